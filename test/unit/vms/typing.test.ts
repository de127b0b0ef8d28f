import { describe, expect, it } from 'vitest'
import { chordFor } from '#server/vms/typing'
import { QKEYCODES } from '#schemas/keys'

describe('chordFor (US layout)', () => {
  it.each([
    ['a', ['a']], ['Z', ['shift', 'z']], ['7', ['7']], [' ', ['spc']], ['\n', ['ret']], ['\t', ['tab']],
    ['-', ['minus']], ['_', ['shift', 'minus']], ['@', ['shift', '2']], ['|', ['shift', 'backslash']],
    ['"', ['shift', 'apostrophe']], ['`', ['grave_accent']], ['~', ['shift', 'grave_accent']],
  ])('types %j with %j', (ch, keys) => {
    expect(chordFor(ch)).toEqual(keys)
  })

  it('has a chord of known key names for every printable ASCII character, and none for others', () => {
    for (let c = 0x20; c <= 0x7e; c++) {
      const keys = chordFor(String.fromCharCode(c))
      expect(keys, String.fromCharCode(c)).toBeDefined()
      for (const k of keys!) expect(QKEYCODES).toContain(k)
    }
    expect(chordFor('é')).toBeUndefined()
    expect(chordFor('\r')).toBeUndefined()
  })

  it('gives distinct characters distinct chords', () => {
    const chords = new Set<string>()
    for (let c = 0x20; c <= 0x7e; c++) chords.add(chordFor(String.fromCharCode(c))!.join('+'))
    expect(chords.size).toBe(0x7e - 0x20 + 1)
  })
})
