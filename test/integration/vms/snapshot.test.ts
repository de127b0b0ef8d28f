import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { QmpClient } from '#server/qemu/qmp/index'
import {
  action, alive, brief, cmdline, drives, getVm, guestView, hmp, listVms, makeLab, processOf, seatsOf, sha256, startVmServer, toolQmp,
  type Vm, type VmWorld, waitFor,
} from './vm-helpers'

// Seats run on snapshot disks: what a student writes is gone when the seat restarts, and the base
// image never changes. Maintenance runs the same profile writable: its writes land in the base.
// Writes go through the VM's tool QMP socket (the server holds the first one) with HMP's qemu-io,
// into the drive the guest sees (above the snapshot overlay); reads copy that drive out (guestView).

const WRITE = 'qemu-io drive-ide0 "write -P 0xab 0 64k"'
const AB = Buffer.alloc(65536, 0xab)
const ZERO = Buffer.alloc(65536, 0)

let w: VmWorld
beforeAll(async () => {
  w = await startVmServer()
})
afterAll(() => w?.dispose())

async function running(id: string, ms: number, not?: number): Promise<Vm> {
  return waitFor(`${id} running${not ? ` with a pid other than ${not}` : ''}`, ms, async (see) => {
    const vm = await getVm(w.api, id)
    see(vm ? brief([vm]) : 'not listed')
    return vm?.state === 'running' && vm.pid && vm.pid !== not && processOf(w.runDir, id).some((p) => p.pid === vm.pid) ? vm : undefined
  })
}

/** Runs `fn` on the VM's tool QMP socket and closes it. */
async function withQmp<T>(id: string, fn: (q: QmpClient) => Promise<T>): Promise<T> {
  const q = await toolQmp(w.runDir, id)
  try {
    return await fn(q)
  } finally {
    q.close()
  }
}

/** The first 64 KiB of the VM's first disk, as its guest sees them. */
const guestSees = (id: string, image: { virtualSize: number }) => withQmp(id, (q) => guestView(q, 'drive-ide0', image.virtualSize))

/** The first 64 KiB of an image file as a guest would see them, read outside any VM. */
async function fileBytes(path: string): Promise<Buffer> {
  const raw = `${path}.raw`
  try {
    // -U: seats may have the base open (read-only); reading it is safe.
    await execa('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', path, raw])
    return (await readFile(raw)).subarray(0, 65536)
  } finally {
    await rm(raw, { force: true })
  }
}

describe('snapshot mode', () => {
  it('a seat\'s writes vanish on restart and never reach the base; the same write in maintenance does', async () => {
    const { lab, image, profile } = await makeLab(w.api, 1)
    const base = join(w.imagesDir, image.file)
    const seatId = `${lab.id}-1`
    const pristine = await sha256(base)

    // 1. A seat writes 0xab over its first 64 KiB, and sees it.
    const seat = await running(seatId, 20_000)
    expect(drives(cmdline(seat.pid!)!)[0]!.split(',')).toContain('snapshot=on')
    const out = await withQmp(seatId, (q) => hmp(q, WRITE))
    expect(out).toBe('')
    expect(await guestSees(seatId, image), 'the seat sees its own write').toEqual(AB)
    expect(await sha256(base), 'base image while the seat runs').toBe(pristine)

    // 2. Restart: a new QEMU, the write is gone, the base is as it was.
    await action(w.api, seatId, 'restart')
    const again = await running(seatId, 10_000, seat.pid)
    expect(alive(seat.pid!)).toBe(false)
    expect(await guestSees(seatId, image), 'the write is gone after a restart').toEqual(ZERO)
    expect(await fileBytes(base)).toEqual(ZERO)
    // Read with the seat stopped too: nothing is in flight.
    await action(w.api, seatId, 'stop')
    await waitFor(`${seatId} stopped`, 10_000, async () => !alive(again.pid!))
    expect(await sha256(base), 'base image after the seat wrote to it and restarted').toBe(pristine)
    await action(w.api, seatId, 'start')
    await running(seatId, 10_000, again.pid)

    // 3. Maintenance (exclusive, forcing the seat off): the same write lands in the base image.
    const res = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'exclusive', force: true })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const maintId = `${profile.id}-maint`
    const maint = await running(maintId, 15_000)
    const maintDrives = drives(cmdline(maint.pid!)!)
    expect(maintDrives[0]).toContain(`file=${base}`)
    expect(maintDrives[0]!.split(',')).not.toContain('snapshot=on')
    await withQmp(maintId, (q) => hmp(q, WRITE))
    expect(await guestSees(maintId, image)).toEqual(AB)

    const stop = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'stop' })
    expect(stop.status, JSON.stringify(stop.body)).toBe(200)
    await waitFor(`${maintId} gone`, 15_000, async (see) => {
      see(brief(await listVms(w.api)))
      return !alive(maint.pid!) && processOf(w.runDir, maintId).length === 0
    })
    // The seat may be back already: it opens the base read-only, so the file stays put while read.
    expect(await sha256(base), 'base image after maintenance wrote to it').not.toBe(pristine)
    expect(await fileBytes(base)).toEqual(AB)

    // 4. The seat comes back on the changed base and sees what maintenance wrote.
    const back = await waitFor(`${seatId} back after maintenance`, 15_000, async (see) => {
      const s = seatsOf(await listVms(w.api), lab.id)
      see(brief(s))
      return s[0]?.state === 'running' && s[0].pid ? s[0] : undefined
    })
    expect(drives(cmdline(back.pid!)!)[0]!.split(',')).toContain('snapshot=on')
    expect(await guestSees(seatId, image), 'the seat sees what maintenance wrote').toEqual(AB)
  })
})
