import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openKv, repositories, type Repositories } from '#storage'
import { readConfig } from '#server/config'
import { SeatProber } from '#server/readiness/index'
import type { QmpClient } from '#server/qemu/qmp/index'
import type { ProbeKind } from '#schemas/profiles'

// The probe task's domain on a real file store, against real TCP servers standing in for the
// seats' forwarded ports: what it records per seat, when it writes, and when it asks for a restart.

let dir: string
let store: Repositories
const servers: Server[] = []
const sockets: Socket[] = []
let restarts = 0
let monitorAnswers = true
const STARTED = '2026-12-01T08:00:00.000Z'

// The reconciler's monitor, as far as the prober uses it: query-status answers or not.
const monitor = async () => ({ execute: async () => (monitorAnswers ? { status: 'running' } : Promise.reject(new Error('timed out'))) }) as unknown as QmpClient

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-prober-'))
  store = repositories(await openKv({ dir }))
  restarts = 0
  monitorAnswers = true
})
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  await store.kv.close()
  await rm(dir, { recursive: true, force: true })
})

/** A port whose "guest" echoes while `answering()` says so, and otherwise accepts and stays silent (slirp). */
async function guest(answering: () => boolean): Promise<number> {
  const server = createServer((s) => {
    sockets.push(s)
    s.on('error', () => {})
    s.on('data', (d) => answering() && s.write(d))
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as { port: number }).port
}

async function seatOn(port: number, probe: ProbeKind = 'tcp', state: 'running' | 'stopped' = 'running', startedAt = STARTED) {
  await store.profiles.upsert('p', () => ({ name: 'p', description: '', memoryMiB: 64, cpus: 1, nic: 'virtio', disks: [{ image: 'i', bus: 'ide', media: 'disk' }], machine: 'pc', cpuModel: null, rtcLocalTime: false, usbTablet: false, sound: 'none', display: 'std', smbios: {}, firmware: 'bios', extraArgs: [], active: true, restartPeriodHours: null, probe }))
  await store.labs.upsert('aula', () => ({ name: 'aula', description: '', size: 1, max: 1, profiles: ['p'], macBase: '52:54:00:01:02:00', network: { mode: 'user', hostPort: port } }) as never)
  await store.vms.upsert('aula-1', () => ({ id: 'aula-1', kind: 'seat', lab: 'aula', seat: 1, profile: 'p', state, host: 'h', failures: 0, startedAt }))
}

// A ready seat is probed again once LABVIRT_PROBE_INTERVAL has passed: a millisecond here, so each
// run probes it, unless a test asks for the default.
function prober(unhealthyAfter = '1', interval = '0.001') {
  const config = readConfig({ LABVIRT_HOST_ID: 'h', LABVIRT_DATA_DIR: dir, LABVIRT_UNHEALTHY_AFTER: unhealthyAfter, LABVIRT_FORWARD_ADDRESS: '127.0.0.1', LABVIRT_PROBE_INTERVAL: interval })
  return new SeatProber({ config, store }, { monitor, changed: () => void restarts++ })
}

const record = async () => {
  const r = await store.readiness.get('aula-1')
  if (!r) return r
  const { id, revision, createdAt, updatedAt, ...rest } = r as typeof r & { id?: string }
  return rest
}

describe('the seat prober', () => {
  it('probes a seat booting at every run, a ready one only once LABVIRT_PROBE_INTERVAL has passed', async () => {
    let up = false
    await seatOn(await guest(() => up), 'tcp', 'running', new Date().toISOString())
    const p = prober('60', '5')
    expect(await p.run()).toMatchObject({ probed: 1, ready: 0 })
    expect(await p.run()).toMatchObject({ probed: 1, ready: 0 })
    up = true
    expect(await p.run()).toMatchObject({ probed: 1, ready: 1 })
    // Ready: left alone until its interval is up, and still counted ready.
    up = false
    expect(await p.run()).toMatchObject({ probed: 0, ready: 1 })
    expect(await record()).toMatchObject({ ready: true })
  })

  it('a seat still silent two minutes after its start is probed only once LABVIRT_PROBE_INTERVAL has passed', async () => {
    await seatOn(await guest(() => false))
    const p = prober('60', '5')
    expect(await p.run()).toMatchObject({ probed: 1, ready: 0 })
    expect(await p.run()).toMatchObject({ probed: 0, ready: 0 })
  })

  it('ready once the guest answers, written only when that changes; silent twice after that, not ready', async () => {
    let up = false
    await seatOn(await guest(() => up))
    const p = prober('60')
    await p.run()
    expect(await record()).toEqual({ startedAt: STARTED, ready: false })
    up = true
    expect(await p.run()).toMatchObject({ probed: 1, ready: 1 })
    const ready = (await store.readiness.get('aula-1'))!
    expect(ready).toMatchObject({ ready: true, readySince: expect.any(String) })
    await p.run()
    expect((await store.readiness.get('aula-1'))!.revision).toBe(ready.revision)
    up = false
    // One miss is forgiven (a loaded guest), the second is not.
    await p.run()
    expect(await record()).toMatchObject({ ready: true })
    await p.run()
    expect(await record()).toEqual({ startedAt: STARTED, ready: false, lastAnswer: expect.any(String) })
    expect(restarts).toBe(0)
  })

  it('silent past LABVIRT_UNHEALTHY_AFTER after it answered: unhealthy, and the reconciler is asked once to restart it', async () => {
    let up = true
    const port = await guest(() => up)
    await seatOn(port)
    const p = prober('1')
    await p.run()
    up = false
    const t0 = Date.now()
    while (!(await record())?.restart) {
      expect(Date.now() - t0).toBeLessThan(20_000)
      await p.run()
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000)
    expect(await record()).toMatchObject({ ready: false, restart: true, unhealthy: { msgid: 'No answer on port {port} for over {seconds} s', params: { port, seconds: 1 } } })
    await p.run()
    expect(restarts).toBe(1)
  })

  it('a seat that never answered is never unhealthy: a blank disk boots nothing, a restart would not help', async () => {
    await seatOn(await guest(() => false), 'rdp')
    const p = prober('0.2')
    for (let i = 0; i < 4; i++) await p.run()
    expect(await record()).toEqual({ startedAt: STARTED, ready: false })
    expect(restarts).toBe(0)
  })

  it('probe none: ready when running; a monitor that does not answer flags it but asks for no restart', async () => {
    await seatOn(await guest(() => false), 'none')
    const p = prober()
    await p.run()
    expect(await record()).toMatchObject({ ready: true })
    monitorAnswers = false
    // A check is trusted for one probe interval (1 ms here): a run within the same millisecond
    // reuses it, the next one asks again.
    const t0 = Date.now()
    while (!(await record())?.unhealthy) {
      expect(Date.now() - t0).toBeLessThan(20_000)
      await p.run()
    }
    expect(await record()).toMatchObject({ ready: true, unhealthy: { msgid: 'Its QMP monitor does not answer query-status' } })
    expect((await record())?.restart).toBeUndefined()
    expect(restarts).toBe(0)
  })

  it('a seat that stopped has no record: not ready', async () => {
    const port = await guest(() => true)
    await seatOn(port)
    const p = prober()
    await p.run()
    expect(await record()).toMatchObject({ ready: true })
    await seatOn(port, 'tcp', 'stopped')
    await p.run()
    expect(await store.readiness.get('aula-1')).toBeNull()
  })
})
