import * as v from 'valibot'
import { N_ } from './msgid'

/**
 * QEMU's QKeyCode names that `send-key` accepts (QEMU 7.2's `query-qmp-schema`, less `unmapped`):
 * the only key names that reach QMP.
 */
export const QKEYCODES = [
  'shift', 'shift_r', 'alt', 'alt_r', 'ctrl', 'ctrl_r', 'menu', 'esc',
  '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', 'minus', 'equal', 'backspace', 'tab',
  'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', 'bracket_left', 'bracket_right', 'ret',
  'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'semicolon', 'apostrophe', 'grave_accent', 'backslash',
  'z', 'x', 'c', 'v', 'b', 'n', 'm', 'comma', 'dot', 'slash', 'asterisk', 'spc', 'caps_lock',
  'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10', 'f11', 'f12',
  'num_lock', 'scroll_lock', 'kp_divide', 'kp_multiply', 'kp_subtract', 'kp_add', 'kp_enter', 'kp_decimal',
  'sysrq', 'kp_0', 'kp_1', 'kp_2', 'kp_3', 'kp_4', 'kp_5', 'kp_6', 'kp_7', 'kp_8', 'kp_9', 'less',
  'print', 'home', 'pgup', 'pgdn', 'end', 'left', 'up', 'down', 'right', 'insert', 'delete',
  'stop', 'again', 'props', 'undo', 'front', 'copy', 'open', 'paste', 'find', 'cut', 'lf', 'help',
  'meta_l', 'meta_r', 'compose', 'pause', 'ro', 'hiragana', 'henkan', 'yen', 'muhenkan',
  'katakanahiragana', 'kp_comma', 'kp_equals', 'power', 'sleep', 'wake', 'audionext', 'audioprev',
  'audiostop', 'audioplay', 'audiomute', 'volumeup', 'volumedown', 'mediaselect', 'mail',
  'calculator', 'computer', 'ac_home', 'ac_back', 'ac_forward', 'ac_refresh', 'ac_bookmarks', 'lang1', 'lang2',
] as const
export type QKeyCode = (typeof QKEYCODES)[number]

/** `POST /api/vms/:id/keys`: one chord, pressed together and released (e.g. ctrl, alt, delete). */
export const KeyChord = v.strictObject({
  keys: v.pipe(
    v.array(v.picklist(QKEYCODES, N_('Not a key name QEMU knows (e.g. ctrl, alt, delete, f1, a)'))),
    v.minLength(1),
    v.maxLength(8),
  ),
})

/** The most characters one `POST /api/vms/:id/type` types. */
export const TYPE_MAX = 1000

/** `POST /api/vms/:id/type`: printable ASCII, newlines and tabs, typed on a US layout. */
export const TypeText = v.strictObject({
  text: v.pipe(
    v.string(),
    v.minLength(1),
    v.maxLength(TYPE_MAX),
    v.regex(/^[\x20-\x7e\n\t]*$/, N_('Only printable ASCII characters, newlines and tabs can be typed')),
  ),
})
