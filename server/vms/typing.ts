import type { QKeyCode } from '#schemas/keys'

// A US keyboard: what each printable ASCII character is, unshifted and with shift.
const PLAIN: Record<string, QKeyCode> = {
  ' ': 'spc', '\n': 'ret', '\t': 'tab', '-': 'minus', '=': 'equal', '[': 'bracket_left',
  ']': 'bracket_right', ';': 'semicolon', "'": 'apostrophe', '`': 'grave_accent', '\\': 'backslash',
  ',': 'comma', '.': 'dot', '/': 'slash',
}
const SHIFTED: Record<string, QKeyCode> = {
  '!': '1', '@': '2', '#': '3', '$': '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
  '_': 'minus', '+': 'equal', '{': 'bracket_left', '}': 'bracket_right', ':': 'semicolon',
  '"': 'apostrophe', '~': 'grave_accent', '|': 'backslash', '<': 'comma', '>': 'dot', '?': 'slash',
}

/**
 * The keys that type `ch` on a US layout (shift first when it needs shift), or undefined for a
 * character such a keyboard has no key for. The guest's own layout decides what it shows.
 */
export function chordFor(ch: string): QKeyCode[] | undefined {
  if (/^[a-z0-9]$/.test(ch)) return [ch as QKeyCode]
  if (/^[A-Z]$/.test(ch)) return ['shift', ch.toLowerCase() as QKeyCode]
  if (PLAIN[ch]) return [PLAIN[ch]]
  if (SHIFTED[ch]) return ['shift', SHIFTED[ch]]
  return undefined
}
