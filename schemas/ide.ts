/** IDE position: 0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave. */
export type IdeSlot = 0 | 1 | 2 | 3
export const IDE_SLOTS: readonly IdeSlot[] = [0, 1, 2, 3]
const SECONDARY_MASTER: IdeSlot = 2

export interface IdeDevice {
  bus: string
  media: string
  /** Placed by the caller; unplaced IDE devices fill the free slots. */
  slot?: number
}

export interface IdePlacement {
  /** For each IDE slot, the index of the device in it. */
  slots: (number | undefined)[]
  /** Devices placed in a slot an earlier one already holds. */
  taken: { index: number; by: number }[]
  /** IDE devices no slot was left for. */
  left: number[]
}

/**
 * Where QEMU gets each IDE device (the seed's layout): placed slots first, then the first
 * unplaced CD-ROM at secondary master (hdc), then the rest in order. Shared by the QEMU driver and
 * the console's profile editor, so what the editor shows is what QEMU gets. A slot outside 0-3
 * is left out (the caller reports it).
 */
export function placeIde(devices: readonly IdeDevice[]): IdePlacement {
  const slots: (number | undefined)[] = [undefined, undefined, undefined, undefined]
  const taken: IdePlacement['taken'] = []
  const unplaced: number[] = []
  devices.forEach((d, index) => {
    if (d.bus !== 'ide') return
    if (d.slot === undefined) return void unplaced.push(index)
    if (!(IDE_SLOTS as readonly number[]).includes(d.slot)) return
    const by = slots[d.slot]
    if (by !== undefined) taken.push({ index, by })
    else slots[d.slot] = index
  })
  const cdrom = unplaced.find((i) => devices[i]!.media === 'cdrom')
  if (cdrom !== undefined && slots[SECONDARY_MASTER] === undefined) {
    slots[SECONDARY_MASTER] = cdrom
    unplaced.splice(unplaced.indexOf(cdrom), 1)
  }
  const left: number[] = []
  for (const index of unplaced) {
    const free = IDE_SLOTS.find((s) => slots[s] === undefined)
    if (free === undefined) left.push(index)
    else slots[free] = index
  }
  return { slots, taken, left }
}
