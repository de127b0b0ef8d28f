import { describe, expect, it } from 'vitest'
import { placeIde } from '#schemas/ide'

// The IDE layout the profile editor shows and the QEMU driver uses (args.test.ts checks the argv).
const hd = { bus: 'ide', media: 'disk' }
const cd = { bus: 'ide', media: 'cdrom' }

describe('placeIde', () => {
  it('puts the first CD-ROM at secondary master and the hard disks in the other slots, in order', () => {
    expect(placeIde([cd, hd, hd, hd]).slots).toEqual([1, 2, 0, 3])
    expect(placeIde([hd, { bus: 'virtio', media: 'disk' }, cd]).slots).toEqual([0, undefined, 2, undefined])
  })

  it('keeps placed devices where they are and reports a slot taken twice and devices left without one', () => {
    const placed = placeIde([{ ...hd, slot: 2 }, cd, { ...hd, slot: 2 }, hd, hd, hd])
    expect(placed.slots).toEqual([1, 3, 0, 4])
    expect(placed.taken).toEqual([{ index: 2, by: 0 }])
    expect(placed.left).toEqual([5])
  })
})
