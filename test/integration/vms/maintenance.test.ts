import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  alive, brief, cmdline, drives, listVms, makeLab, processOf, seatsOf, startVmServer, type Vm, type VmWorld, waitFor,
} from './vm-helpers'

// Exclusive maintenance (the seed's administrative profile): the profile runs writable on its base
// image, which QEMU's image locks allow only with no seat on it.

let w: VmWorld
beforeAll(async () => {
  w = await startVmServer()
})
afterAll(() => w?.dispose())

async function seatsRunning(lab: string, n: number, ms: number, notPids: number[] = []): Promise<Vm[]> {
  return waitFor(`${n} seats of ${lab} running`, ms, async (see) => {
    const seats = seatsOf(await listVms(w.api), lab)
    see(brief(seats))
    const ok = seats.length === n && seats.every((s) => s.state === 'running' && s.pid && !notPids.includes(s.pid) && processOf(w.runDir, s.id).some((p) => p.pid === s.pid))
    return ok && seats
  })
}

describe('exclusive maintenance', () => {
  it('409 naming the running seats; with force the seats go down, the writable VM runs alone, and the seats return after', async () => {
    const { lab, profile, image } = await makeLab(w.api, 2)
    // A second lab on another profile: maintenance must not touch it.
    const other = await makeLab(w.api, 1)
    const seats = await seatsRunning(lab.id, 2, 20_000)
    const bystander = (await seatsRunning(other.lab.id, 1, 20_000))[0]!

    const refused = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'exclusive' })
    expect(refused.status).toBe(409)
    expect(refused.body.seats).toEqual(seats.map((s) => s.id))
    for (const s of seats) expect(refused.body.message).toContain(s.id)
    // Refused means nothing changed.
    await sleep(1500)
    expect(seatsOf(await listVms(w.api), lab.id).map((s) => [s.state, s.pid])).toEqual(seats.map((s) => ['running', s.pid]))
    expect((await listVms(w.api)).some((v) => v.id === `${profile.id}-maint`)).toBe(false)

    const forced = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'exclusive', force: true })
    expect(forced.status, JSON.stringify(forced.body)).toBe(200)
    expect(forced.body).toMatchObject({ profile: profile.id, vm: `${profile.id}-maint`, stopping: seats.map((s) => s.id) })
    const maintId = `${profile.id}-maint`
    const maint = await waitFor(`${maintId} running, seats gone`, 20_000, async (see) => {
      const vms = await listVms(w.api)
      see(brief(vms.filter((v) => v.lab === lab.id || v.id === maintId)))
      const m = vms.find((v) => v.id === maintId)
      return seats.every((s) => !alive(s.pid!)) && m?.state === 'running' && m.pid && alive(m.pid) ? m : undefined
    })
    const argv = cmdline(maint.pid!)!
    const ds = drives(argv)
    expect(ds).toHaveLength(1)
    expect(ds[0]).toContain(`file=${w.imagesDir}/${image.file}`)
    expect(ds[0]!.split(','), 'the maintenance VM writes to the base image').not.toContain('snapshot=on')
    expect(argv.join(' ')).not.toContain('snapshot=on')

    // While it runs, no seat of that profile starts, tick after tick (the interval is 1 s).
    const sampleUntil = Date.now() + 4000
    while (Date.now() < sampleUntil) {
      const vms = await listVms(w.api)
      for (const s of seatsOf(vms, lab.id)) {
        expect(s.state, `${s.id} during maintenance`).not.toBe('running')
        expect(processOf(w.runDir, s.id), `${s.id} has a process during maintenance`).toEqual([])
      }
      expect(vms.find((v) => v.id === maintId)?.pid).toBe(maint.pid)
      await sleep(200)
    }
    // The other lab never noticed.
    expect(seatsOf(await listVms(w.api), other.lab.id).map((s) => s.pid)).toEqual([bystander.pid])

    // Starting it again is a conflict, not a second VM.
    const twice = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'exclusive', force: true })
    expect(twice.status).toBe(409)
    expect(processOf(w.runDir, maintId)).toHaveLength(1)

    const stop = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'stop' })
    expect(stop.status, JSON.stringify(stop.body)).toBe(200)
    const back = await seatsRunning(lab.id, 2, 20_000, seats.map((s) => s.pid!))
    expect(alive(maint.pid!)).toBe(false)
    expect(processOf(w.runDir, maintId)).toEqual([])
    expect((await listVms(w.api)).find((v) => v.id === maintId), 'the maintenance VM is no longer listed').toBeUndefined()
    for (const s of back) expect(drives(cmdline(s.pid!)!)[0]!.split(','), s.id).toContain('snapshot=on')

    const again = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'stop' })
    expect(again.status).toBe(409)
  })

  it('with no seat running, starts without force', async () => {
    const { lab, profile } = await makeLab(w.api, 0)
    const res = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'exclusive' })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.stopping).toEqual([])
    const maintId = `${profile.id}-maint`
    const m = await waitFor(`${maintId} running`, 15_000, async (see) => {
      const vm = (await listVms(w.api)).find((v) => v.id === maintId)
      see(vm && brief([vm]))
      return vm?.state === 'running' && vm.pid ? vm : undefined
    })
    expect(m.lab, 'on the network of the first lab allowing the profile').toBe(lab.id)
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'stop' })).status).toBe(200)
    await waitFor(`${maintId} gone`, 15_000, async () => !alive(m.pid!))
  })
})
