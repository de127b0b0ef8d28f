import { execa } from 'execa'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient } from '../../helpers/client'
import { openConsole } from '../../helpers/rfb'
import {
  acrossPasses, alive, brief, hmp, listVms, makeLab, qemuProcesses, seatsOf, sha256, startVmServer, toolQmp, type Vm, type VmWorld, waitFor,
} from '../vms/vm-helpers'
import { vmPaths } from '#server/qemu/paths'

// Profile versions (issue 11) on real QEMU and qemu-img: overlay maintenance while the seats run,
// publish under load, discard, rollback. A lab of 3 seats may have one down at once for a move
// (LABVIRT_RESTART_SHARE's default 25 %, at least one seat).

let w: VmWorld
beforeAll(async () => {
  w = await startVmServer()
})
afterAll(() => w?.dispose())

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])
const MARKER = '0x5a'

async function seatsOn(lab: string, want: (s: Vm[]) => boolean, what: string, ms = 30_000) {
  return waitFor(`${lab}: ${what}`, ms, async (see) => {
    const seats = seatsOf(await listVms(w.api), lab)
    see(seats.map((s) => `${brief([s])} v${s.version}`).join(', '))
    return seats.length > 0 && seats.every((s) => s.state === 'running' && s.pid && alive(s.pid)) && want(seats) && seats
  })
}

async function maintRunning(profile: string) {
  const id = `${profile}-maint`
  return waitFor(`${id} running`, 20_000, async (see) => {
    const vm = (await listVms(w.api)).find((v) => v.id === id)
    see(vm && brief([vm]))
    return vm?.state === 'running' && vm.pid && alive(vm.pid) && vm
  })
}

/** Writes the marker into the maintenance VM's system disk from the host side (HMP qemu-io). */
async function writeMarker(profile: string) {
  const qmp = await toolQmp(w.runDir, `${profile}-maint`)
  try {
    await hmp(qmp, `qemu-io drive-ide0 "write -P ${MARKER} 0 64k"`)
  } finally {
    qmp.close()
  }
}

/** Whether the first 64 KiB of an image file read as the marker (qemu-io verifies the pattern). */
async function hasMarker(file: string) {
  const r = await execa('qemu-io', ['-r', '-U', '-f', 'qcow2', '-c', `read -P ${MARKER} 0 64k`, file], { reject: false })
  return r.exitCode === 0 && !/verification failed/i.test(r.stdout + r.stderr)
}

/**
 * Samples how many of a lab's seats have no QEMU process, until stopped: the share rule is about
 * what a lab's users see (a seat to sit at), so it is measured on the host's processes.
 */
function sampleDown(lab: string, seats: number) {
  let max = 0
  let samples = 0
  let on = true
  const loop = (async () => {
    while (on) {
      const up = new Set(qemuProcesses(w.runDir).flatMap((p) => p.argv.filter((a, i) => p.argv[i - 1] === '-pidfile')))
      const down = Array.from({ length: seats }, (_, i) => vmPaths(w.runDir, `${lab}-${i + 1}`).pidfile).filter((f) => !up.has(f)).length
      max = Math.max(max, down)
      samples++
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  return { stop: async () => ((on = false), await loop, { max, samples }) }
}

async function jobDone(id: string) {
  const job = await waitFor(`job ${id} to end`, 60_000, async (see) => {
    const j = (await w.api.get(`/api/jobs/${id}`)).body
    see(j)
    return TERMINAL.has(j.state) && j
  })
  expect(job.state, JSON.stringify(job)).toBe('succeeded')
  return job
}

describe('profile versions', () => {
  it('publish under load: v2 has the marker, v1 is unchanged, idle seats move at once, a connected one when its terminal leaves, never more down than the share; rollback brings them back', async () => {
    const { lab, profile, image } = await makeLab(w.api, 3, 'pv')
    const v1File = join(w.imagesDir, image.file)
    const v1Sum = await sha256(v1File)
    const before = await seatsOn(lab.id, (s) => s.length === 3 && s.every((x) => x.version === 1), '3 seats on v1')

    // Overlay maintenance is the default: the seats keep running.
    const start = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start' })
    expect(start.status, JSON.stringify(start.body)).toBe(200)
    expect(start.body).toMatchObject({ mode: 'overlay', base: 1, stopping: [] })
    await maintRunning(profile.id)
    expect(seatsOf(await listVms(w.api), lab.id).map((s) => s.pid)).toEqual(before.map((s) => s.pid))
    await writeMarker(profile.id)
    expect(await sha256(v1File), 'the marker went to the overlay, not to v1').toBe(v1Sum)

    // Seat 1 has a terminal on it (an admin console counts as one).
    const held = await openConsole(w.server.url, `${lab.id}-1`, { cookie: w.api.cookie })
    if (held.status !== 101) throw new Error(`console: ${held.status} ${JSON.stringify(held.body)}`)
    await waitFor(`${lab.id}-1 connected`, 10_000, async () => ((await listVms(w.api)).find((v) => v.id === `${lab.id}-1`) as { connected?: boolean } | undefined)?.connected)

    const sampler = sampleDown(lab.id, 3)
    const pub = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'marker written', force: true })
    expect(pub.status, JSON.stringify(pub.body)).toBe(202)
    await jobDone(pub.body.job.id)

    const v2File = join(w.imagesDir, (await w.api.get(`/api/profiles/${profile.id}/versions`)).body.versions[0].image)
    expect(v2File).toMatch(new RegExp(`/${profile.id}\\.v2-[0-9a-f]{8}\\.qcow2$`))
    expect(await hasMarker(v2File), 'v2 has the marker').toBe(true)
    expect(await hasMarker(v1File), 'v1 does not').toBe(false)
    expect(await sha256(v1File)).toBe(v1Sum)
    const info = JSON.parse((await execa('qemu-img', ['info', '-U', '--output=json', v2File])).stdout)
    expect(info['backing-filename'], 'v2 is flattened').toBeUndefined()
    expect((await stat(v2File)).mode & 0o777, 'v2 is read-only').toBe(0o444)
    expect((await listVms(w.api)).some((v) => v.id === `${profile.id}-maint`)).toBe(false)

    // The idle seats move to v2; the connected one stays on v1 with the same process.
    const moved = await seatsOn(lab.id, (s) => s[0]!.version === 1 && s[1]!.version === 2 && s[2]!.version === 2, 'seats 2 and 3 on v2, seat 1 on v1')
    expect(moved.map((s) => (s as { currentVersion?: number }).currentVersion), 'seat 1 shows as behind').toEqual([2, 2, 2])
    expect(moved[0]!.pid).toBe(before[0]!.pid)
    expect(moved[1]!.pid).not.toBe(before[1]!.pid)
    await acrossPasses(w.server, 3, async () => {
      expect((await listVms(w.api)).find((v) => v.id === `${lab.id}-1`)?.pid).toBe(before[0]!.pid)
    })

    held.ws!.close()
    const all = await seatsOn(lab.id, (s) => s.every((x) => x.version === 2), 'every seat on v2 once the terminal left')
    expect(all[0]!.pid).not.toBe(before[0]!.pid)
    const { max, samples } = await sampler.stop()
    expect(samples).toBeGreaterThan(50)
    expect(max, 'seats down at once during the move').toBe(1)

    const versions = (await w.api.get(`/api/profiles/${profile.id}/versions`)).body
    expect(versions).toMatchObject({ currentVersion: 2 })
    expect(versions.versions.map((v: any) => [v.n, v.current, v.note, v.parent, v.seats.length])).toEqual([[2, true, 'marker written', 1, 3], [1, false, '', undefined, 0]])
    const events = (await w.api.get('/api/events?limit=50')).body as any[]
    expect(events.find((e) => e.action === 'publish' && e.id === profile.id)).toMatchObject({ actor: 'admin', message: expect.stringContaining('marker written') })

    // v2 is never written again: exclusive maintenance would write to it.
    const exclusive = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'exclusive', force: true })
    expect(exclusive.status).toBe(409)
    expect(exclusive.body.message).toContain('read-only')

    // A clone is of what the seats run now: v2.
    const clone = await w.api.post(`/api/profiles/${profile.id}/clone`, { name: `${profile.id.slice(0, 18)}-c`, mode: 'linked' })
    expect(clone.status, JSON.stringify(clone.body)).toBe(202)
    await jobDone(clone.body.job.id)
    const cloneImage = (await w.api.get(`/api/images/${profile.id.slice(0, 18)}-c`)).body
    const cloneInfo = JSON.parse((await execa('qemu-img', ['info', '-U', '--output=json', join(w.imagesDir, cloneImage.file)])).stdout)
    expect(cloneInfo['full-backing-filename']).toBe(v2File)

    // Rollback: v1 is current again and the seats go back to it.
    const rb = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'rollback' })
    expect(rb.status, JSON.stringify(rb.body)).toBe(200)
    expect(rb.body.currentVersion).toBe(1)
    await seatsOn(lab.id, (s) => s.every((x) => x.version === 1), 'every seat back on v1')
    for (const s of seatsOf(await listVms(w.api), lab.id)) expect(qemuProcesses(w.runDir).find((p) => p.pid === s.pid)!.argv.join(' ')).toContain(`file=${v1File},`)
    expect(await sha256(v1File)).toBe(v1Sum)
    // v1 has nothing before it.
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'rollback' })).status).toBe(409)
  })

  it('discard drops the overlay and leaves v1 byte-identical, the seats untouched', async () => {
    const { lab, profile, image } = await makeLab(w.api, 2, 'pd')
    const v1File = join(w.imagesDir, image.file)
    const v1Sum = await sha256(v1File)
    const before = await seatsOn(lab.id, (s) => s.length === 2, '2 seats')
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start', mode: 'overlay' })).status).toBe(200)
    await maintRunning(profile.id)
    await writeMarker(profile.id)
    // An overlay is ended by publish or discard, not by stop.
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'stop' })).status).toBe(409)
    const res = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'discard' })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect((await listVms(w.api)).some((v) => v.id === `${profile.id}-maint`)).toBe(false)
    expect(await sha256(v1File)).toBe(v1Sum)
    expect(await hasMarker(v1File)).toBe(false)
    const { stdout } = await execa('ls', ['-a', w.imagesDir])
    expect(stdout, 'the overlay is gone').not.toContain(`${profile.id}.maint-`)
    expect(seatsOf(await listVms(w.api), lab.id).map((s) => [s.pid, s.version])).toEqual(before.map((s) => [s.pid, 1]))
    expect((await w.api.get(`/api/profiles/${profile.id}/versions`)).body.versions).toHaveLength(1)
    // Nothing left to publish.
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish' })).status).toBe(409)
  })

  it('a cancelled publish makes no version and maintenance goes on', async () => {
    const { profile } = await makeLab(w.api, 1, 'pk')
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start' })).status).toBe(200)
    await maintRunning(profile.id)
    const pub = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish' })
    expect(pub.status).toBe(202)
    // Still powering the maintenance VM down.
    expect((await w.api.post(`/api/jobs/${pub.body.job.id}/cancel`)).status).toBe(202)
    const job = await waitFor('the job cancelled', 20_000, async () => {
      const j = (await w.api.get(`/api/jobs/${pub.body.job.id}`)).body
      return TERMINAL.has(j.state) && j
    })
    expect(job.state).toBe('cancelled')
    await maintRunning(profile.id)
    expect((await w.api.get(`/api/profiles/${profile.id}/versions`)).body).toMatchObject({ currentVersion: 1, versions: [{ n: 1 }], maintenance: { state: 'running' } })
    const { stdout } = await execa('ls', ['-a', w.imagesDir])
    expect(stdout).not.toMatch(new RegExp(`${profile.id}\\.v2|\\.part`))
  })

  it('a canary runs the new version alone until promoted; a bad canary is refused', async () => {
    const { lab, profile } = await makeLab(w.api, 3, 'pc')
    const before = await seatsOn(lab.id, (s) => s.length === 3, '3 seats')
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start' })).status).toBe(200)
    await maintRunning(profile.id)
    await writeMarker(profile.id)
    const bad = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', canary: 'nosuchlab-1' })
    expect(bad.status).toBe(400)
    expect(bad.body.fields.map((f: { field: string }) => f.field)).toEqual(['canary'])

    const pub = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'try it', canary: `${lab.id}-2` })
    expect(pub.status, JSON.stringify(pub.body)).toBe(202)
    await jobDone(pub.body.job.id)
    await seatsOn(lab.id, (s) => s.map((x) => x.version).join() === '1,2,1', 'only seat 2 on v2')
    await acrossPasses(w.server, 3, async () => {
      const seats = seatsOf(await listVms(w.api), lab.id)
      expect(seats.map((s) => s.version)).toEqual([1, 2, 1])
      expect([seats[0]!.pid, seats[2]!.pid]).toEqual([before[0]!.pid, before[2]!.pid])
    })
    expect((await w.api.get(`/api/profiles/${profile.id}/versions`)).body).toMatchObject({ currentVersion: 1, canary: { seat: `${lab.id}-2`, version: 2 } })

    const promoted = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'promote', force: true })
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200)
    await seatsOn(lab.id, (s) => s.every((x) => x.version === 2), 'every seat on v2 after promote')
    expect((await w.api.get(`/api/profiles/${profile.id}/versions`)).body.canary).toBeUndefined()
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'promote' })).status).toBe(409)
  })

  it("a deleted profile's version files go with it, refused while a linked clone is backed by one; none is listed as not imported", async () => {
    const { lab, profile, image } = await makeLab(w.api, 1, 'pd')
    await seatsOn(lab.id, (s) => s.length === 1, '1 seat')
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start' })).status).toBe(200)
    await maintRunning(profile.id)
    const pub = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'v2', force: true })
    expect(pub.status, JSON.stringify(pub.body)).toBe(202)
    await jobDone(pub.body.job.id)
    const v2 = (await w.api.get(`/api/profiles/${profile.id}/versions`)).body.versions[0].image as string
    const clone = `${profile.id}-l`
    const linked = await w.api.post(`/api/profiles/${profile.id}/clone`, { name: clone, mode: 'linked' })
    expect(linked.status, JSON.stringify(linked.body)).toBe(202)
    await jobDone(linked.body.job.id)
    expect((await w.api.delete(`/api/labs/${lab.id}`)).status).toBe(204)
    const unimported = async () => ((await w.api.get('/api/images/unimported')).body as { file: string }[]).map((f) => f.file)
    expect(await unimported()).toEqual([])

    const refused = await w.api.delete(`/api/profiles/${profile.id}`)
    expect(refused.status, JSON.stringify(refused.body)).toBe(409)
    expect(refused.body.message).toContain(`images backed by it: ${clone}`)
    expect((await w.api.get(`/api/profiles/${profile.id}`)).status).toBe(200)
    await stat(join(w.imagesDir, v2))

    expect((await w.api.delete(`/api/profiles/${clone}`)).status).toBe(204)
    expect((await w.api.delete(`/api/images/${clone}`)).status).toBe(204)
    const deleted = await w.api.delete(`/api/profiles/${profile.id}`)
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204)
    const { stdout } = await execa('ls', ['-a', w.imagesDir])
    expect(stdout.split('\n'), 'v2 went with the profile, v1 is its image').toContain(image.file)
    expect(stdout).not.toContain(`${profile.id}.`)
    // A version or overlay file no record names (one a deletion could not remove) is LabVirt's own, not the admin's to import.
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', join(w.imagesDir, `${profile.id}.v7-0123abcd.qcow2`), '16M'])
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', join(w.imagesDir, `${profile.id}.maint-0123abcd.qcow2`), '16M'])
    expect(await unimported()).toEqual([])
    expect((await w.api.get('/api/images')).body.map((i: { file: string }) => i.file)).toContain(image.file)
  })

  // Last: it restarts the shared server.
  it('a restart of LabVirt mid-publish fails the job, leaves no file, and maintenance goes on; publishing again works', async () => {
    const { lab, profile } = await makeLab(w.api, 1, 'pr')
    await seatsOn(lab.id, (s) => s.length === 1, '1 seat')
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start' })).status).toBe(200)
    await maintRunning(profile.id)
    await writeMarker(profile.id)
    const files = async () => (await execa('ls', ['-a', w.imagesDir])).stdout.split('\n').filter((f) => f.startsWith(`${profile.id}.`) || f.endsWith('.part')).sort()
    const before = await files()
    const pub = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'cut short' })
    expect(pub.status).toBe(202)
    // The job is powering the maintenance VM down (its guest ignores ACPI for a second).
    await w.server.kill()
    await w.server.restart()
    w.api = await adminClient(w.server.url)
    const job = await waitFor('the job failed', 20_000, async () => {
      const j = (await w.api.get(`/api/jobs/${pub.body.job.id}`)).body
      return j.state === 'failed' && j
    })
    expect(job.error).toMatch(/restarted/)
    await maintRunning(profile.id)
    expect((await w.api.get(`/api/profiles/${profile.id}/versions`)).body).toMatchObject({ currentVersion: 1, maintenance: { mode: 'overlay', state: 'running' } })
    expect(await files(), 'no version file, no partial file').toEqual(before)

    const again = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'second try' })
    expect(again.status, JSON.stringify(again.body)).toBe(202)
    await jobDone(again.body.job.id)
    const v2 = (await w.api.get(`/api/profiles/${profile.id}/versions`)).body.versions[0]
    expect(v2).toMatchObject({ n: 2, note: 'second try', current: true })
    expect(await hasMarker(join(w.imagesDir, v2.image)), 'the overlay survived the restart').toBe(true)
  })
})
