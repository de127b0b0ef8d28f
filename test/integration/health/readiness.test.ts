import { type Socket, connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bodies, create, uniqueName } from '../../helpers/fixtures'
import { echo } from '../../helpers/ports'
import { tinyGuestProfile } from '../../helpers/tiny-guest'
import { acrossPasses, listVms, startVmServer, toolQmp, type Vm, type VmWorld, waitFor } from '../vms/vm-helpers'

// Readiness and health on real QEMU: a seat of the tiny guest (whose port echoes) is running long
// before it is ready; the broker gives it only once its port answers; a blank-disk seat, whose
// forwarded port QEMU's slirp accepts all the same, never becomes ready; a ready seat paused
// through QMP is flagged, and restarted once nobody is connected to it.

const UNHEALTHY_AFTER_S = 6
type Ready = Vm & { connected: boolean }

let w: VmWorld
let tinyLab: any
let blankLab: any
const TINY_MAC = '52:54:00:7e:05:01'
const BLANK_MAC = '52:54:00:7e:05:02'

const vmOf = async (id: string) => (await listVms(w.api)).find((v) => v.id === id) as Ready | undefined
const ask = (mac: string) => fetch(`${w.server.url}/api/terminal?mac=${mac}`, { headers: { accept: 'application/json' } })

beforeAll(async () => {
  w = await startVmServer({ LABVIRT_PROBE_INTERVAL: '0.5', LABVIRT_UNHEALTHY_AFTER: String(UNHEALTHY_AFTER_S) })
  const client = await create(w.api, 'clients', bodies.client())
  const { profile } = await tinyGuestProfile(w.api, w.imagesDir, 'rd')
  tinyLab = await create(w.api, 'labs', { ...bodies.lab(profile.id, client.id, uniqueName('rdt')), size: 1 })
  // A blank disk on the default probe (rdp): it boots nothing, and nothing answers.
  const image = await create(w.api, 'images', { name: uniqueName('rdb'), sizeMiB: 16 })
  const blank = await create(w.api, 'profiles', { name: uniqueName('rdb'), memoryMiB: 64, cpus: 1, disks: [{ image: image.id }] })
  expect(blank.probe).toBe('rdp')
  blankLab = await create(w.api, 'labs', { ...bodies.lab(blank.id, client.id, uniqueName('rdb')), size: 1 })
  await create(w.api, 'terminals', { ...bodies.terminal(tinyLab.id, client.id), ip: undefined, mac: TINY_MAC })
  await create(w.api, 'terminals', { ...bodies.terminal(blankLab.id, client.id), ip: undefined, mac: BLANK_MAC })
}, 120_000)

afterAll(() => w?.dispose())

describe('a seat is ready once its service answers', () => {
  it('runs before it is ready, gets a terminal only once its port answers; a blank-disk seat never becomes ready', { timeout: 240_000 }, async () => {
    const seat = `${tinyLab.id}-1`
    const port = tinyLab.network.hostPort
    const booting = await waitFor(`${seat} running`, 60_000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      return v?.state === 'running' && v
    })
    // The guest has barely begun to boot under TCG: running, not ready.
    expect(booting).toMatchObject({ state: 'running', ready: false })
    expect(booting.readySince).toBeUndefined()
    const refused = await ask(TINY_MAC)
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('5')
    expect((await refused.json()).message).toMatch(new RegExp(`The seats of lab "${tinyLab.id}" are starting`))

    // Until the port echoes the seat stays not ready; once it does, ready follows within a probe or two.
    // This test's own echo is a connection to the seat too: the connection watcher may count it
    // (as it would a student's) until its next look, so the seat is asked for once nobody is on it.
    let echoedAt = 0
    const ready = await waitFor(`${seat} ready, nobody connected`, 180_000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      if (v?.ready && !v.connected) return v
      if (!echoedAt && (await echo(port, 'up?', 300)) === 'up?\n') echoedAt = Date.now()
      return false
    }, 200)
    if (echoedAt) console.log(`[measure] ready, with nobody on it, seen ${Date.now() - echoedAt} ms after the port first echoed`)
    expect(ready.readySince).toEqual(expect.any(String))
    expect(Date.parse(ready.readySince!)).toBeGreaterThan(Date.parse(booting.startedAt!))
    const given = await ask(TINY_MAC)
    expect(given.status, await given.clone().text()).toBe(200)
    expect(await given.json()).toMatchObject({ seat })

    // The blank seat has been running all along (slirp accepts on its port) and is not ready.
    const blankSeat = await vmOf(`${blankLab.id}-1`)
    expect(blankSeat).toMatchObject({ state: 'running', ready: false })
    const none = await ask(BLANK_MAC)
    expect(none.status).toBe(503)
    expect((await none.json()).message).toMatch(/are starting: none answers yet/)

    // GET /api/vms/:id and /metrics agree.
    expect((await w.api.get(`/api/vms/${seat}`)).body).toMatchObject({ ready: true, readySince: ready.readySince })
    const metrics = await (await fetch(`${w.server.url}/metrics`)).text()
    expect(metrics).toContain(`labvirt_seats_ready{lab="${tinyLab.id}"} 1`)
    expect(metrics).toContain(`labvirt_seats_ready{lab="${blankLab.id}"} 0`)
  })
})

describe('a ready seat that stops answering', () => {
  it('is flagged; while a connection is held it is not restarted; once nobody is on it, it is restarted', { timeout: 240_000 }, async () => {
    const seat = `${tinyLab.id}-1`
    const port = tinyLab.network.hostPort
    const before = await waitFor(`${seat} ready`, 180_000, async () => {
      const v = await vmOf(seat)
      return v?.ready && v
    }, 200)

    // Someone on the seat: a connection held to its forwarded port (the guest echoes and keeps it).
    const held: Socket = connect(port, '127.0.0.1')
    held.on('error', () => {})
    await waitFor(`${seat} connected`, 20_000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      return v?.connected
    }, 200)

    // Pause the guest: QEMU (and slirp) run on, its service answers nothing.
    const qmp = await toolQmp(w.runDir, seat)
    try {
      await qmp.execute('stop')
    } finally {
      qmp.close()
    }
    const flagged = await waitFor(`${seat} unhealthy`, (UNHEALTHY_AFTER_S + 20) * 1000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      return v?.unhealthy ? v : undefined
    }, 200)
    expect(flagged).toMatchObject({ state: 'running', ready: false, pid: before.pid, connected: true })
    expect(flagged.unhealthy).toBe(`No answer on port ${port} for over ${UNHEALTHY_AFTER_S} s`)
    // Somebody is on it: flagged only, across several passes.
    await acrossPasses(w.server, 4, async () => {
      expect((await vmOf(seat))?.pid).toBe(before.pid)
    })

    held.destroy()
    const restarted = await waitFor(`${seat} restarted`, 60_000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      return v?.state === 'running' && v.pid !== before.pid && v
    }, 200)
    // A new process: what the probes said of the old one does not hold for it.
    expect(restarted).toMatchObject({ ready: false })
    expect(restarted.unhealthy).toBeUndefined()
    const events = (await w.api.get('/api/events?limit=50')).body as { action: string; id: string; actor: string; message?: string }[]
    expect(events.find((e) => e.id === seat && e.action === 'unhealthy')).toMatchObject({ actor: 'system', message: `No answer on port ${port} for over ${UNHEALTHY_AFTER_S} s` })
    expect(events.find((e) => e.id === seat && e.action === 'restart')).toMatchObject({ actor: 'system', message: 'Restarted: it stopped answering on its port' })
  })
})
