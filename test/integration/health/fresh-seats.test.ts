import { type Socket, connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bodies, create, uniqueName } from '../../helpers/fixtures'
import { tinyGuestProfile } from '../../helpers/tiny-guest'
import { acrossPasses, guestView, hmp, listVms, startVmServer, type Vm, type VmWorld, waitFor } from '../vms/vm-helpers'
import { connectWithRetry, type QmpClient } from '#server/qemu/qmp/index'
import { vmPaths } from '#server/qemu/paths'

// Fresh seats on real QEMU: a tiny-guest seat of a profile with resetAfterSession. A student's
// session is a connection held to its forwarded port (user mode); the test writes a marker into
// the seat's disk through HMP qemu-io, which lands in the snapshot overlay. A reconnect within the
// grace keeps the process and the marker; once the session ends for good, the seat restarts after
// the grace on a clean snapshot and the marker is gone.

const GRACE_S = 12
const MARKER = 0x5a
const MARK_LEN = 65536
type Seat = Vm & { connected: boolean }

let w: VmWorld
let lab: any
let diskBytes: number
let seat: string
let port: number

const vmOf = async (id: string) => (await listVms(w.api)).find((v) => v.id === id) as Seat | undefined

// The VM's second QMP socket, waited for generously: on a loaded host a TCG guest can keep QEMU's
// main loop from answering for seconds.
async function withQmp<T>(id: string, fn: (q: QmpClient) => Promise<T>): Promise<T> {
  const qmp = await connectWithRetry(vmPaths(w.runDir, id).toolQmp, { deadlineMs: 30_000, timeoutMs: 30_000 })
  try {
    return await fn(qmp)
  } finally {
    qmp.close()
  }
}

// The last 64 KiB of the boot disk, away from anything the running guest reads.
const markAt = () => diskBytes - MARK_LEN
const hasMarker = async () => {
  const view = await withQmp(seat, (q) => guestView(q, 'drive-virtio0', diskBytes, diskBytes))
  return view.subarray(markAt(), markAt() + MARK_LEN).every((b) => b === MARKER)
}

/** A student on the seat: a connection held open to its forwarded port (the guest echoes and keeps it). */
async function sitDown(): Promise<Socket> {
  const sock = connect(port, '127.0.0.1')
  sock.on('error', () => {})
  await waitFor(`${seat} connected`, 20_000, async (see) => {
    const v = await vmOf(seat)
    see(v)
    return v?.connected
  }, 200)
  return sock
}

/** The student leaves; resolves once the server has seen nobody on the seat (its session ended). */
async function leave(sock: Socket): Promise<number> {
  sock.destroy()
  const left = Date.now()
  await waitFor(`${seat} not connected`, 20_000, async (see) => {
    const v = await vmOf(seat)
    see(v)
    return v && !v.connected
  }, 100)
  return left
}

beforeAll(async () => {
  w = await startVmServer({ LABVIRT_PROBE_INTERVAL: '0.5', LABVIRT_CONNECTION_POLL: '0.5' })
  const client = await create(w.api, 'clients', bodies.client())
  const { image, profile } = await tinyGuestProfile(w.api, w.imagesDir, 'fs')
  diskBytes = image.virtualSize
  const stored = (await w.api.get(`/api/profiles/${profile.id}`)).body
  // A stored profile without the fields reads as one that does not reset.
  expect(stored).toMatchObject({ resetAfterSession: false, sessionGraceSeconds: 120 })
  const put = await w.api.put(`/api/profiles/${profile.id}`, { ...stored, resetAfterSession: true, sessionGraceSeconds: GRACE_S })
  expect(put.status, JSON.stringify(put.body)).toBe(200)
  expect(put.body).toMatchObject({ resetAfterSession: true, sessionGraceSeconds: GRACE_S })
  lab = await create(w.api, 'labs', { ...bodies.lab(profile.id, client.id, uniqueName('fsl')), size: 1 })
  seat = `${lab.id}-1`
  port = lab.network.hostPort
}, 120_000)

afterAll(() => w?.dispose())

describe('a seat of a profile with resetAfterSession', () => {
  it('keeps its process and disk across a reconnect within the grace; restarts on a clean snapshot once the session ended the grace ago', { timeout: 360_000 }, async () => {
    const first = await waitFor(`${seat} ready`, 180_000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      return v?.ready && !v.connected && v
    }, 200)

    let sock = await sitDown()
    await withQmp(seat, (q) => hmp(q, `qemu-io drive-virtio0 "write -P ${MARKER} ${markAt()} ${MARK_LEN}"`))
    expect(await hasMarker()).toBe(true)

    // Leaves and comes back within the grace: the reconnect is a connection again.
    const left = await leave(sock)
    sock = await sitDown()
    expect(Date.now() - left, 'the reconnect was seen within the grace').toBeLessThan(GRACE_S * 1000)
    // Kept: passes that began after the grace of the first session ran out leave the seat alone.
    await waitFor('the grace of the first session over', (GRACE_S + 5) * 1000, async () => Date.now() > left + GRACE_S * 1000 + 500, 200)
    await acrossPasses(w.server, 3, async () => {
      expect(await vmOf(seat)).toMatchObject({ state: 'running', pid: first.pid, startedAt: first.startedAt, connected: true })
    })
    expect(await hasMarker()).toBe(true)

    // Leaves for good: after the grace the seat restarts, and the next student finds no marker.
    const gone = await leave(sock)
    const restarted = await waitFor(`${seat} restarted`, (GRACE_S + 120) * 1000, async (see) => {
      const v = await vmOf(seat)
      see(v)
      return v?.state === 'running' && v.pid !== first.pid && v
    }, 200)
    expect(Date.parse(restarted.startedAt!)).toBeGreaterThan(Date.parse(first.startedAt!))
    expect(await hasMarker()).toBe(false)

    const events = (await w.api.get('/api/events?limit=50')).body as { at: string; action: string; id: string; actor: string; message?: string }[]
    const restart = events.find((e) => e.id === seat && e.action === 'restart')
    expect(restart).toMatchObject({ actor: 'system', message: 'Restarted on a clean snapshot: its session ended' })
    const afterMs = Date.parse(restart!.at) - gone
    console.log(`[measure] fresh seat: restart decided ${afterMs} ms, new process started ${Date.parse(restarted.startedAt!) - gone} ms after its session ended (grace ${GRACE_S} s)`)
    expect(afterMs).toBeGreaterThanOrEqual(GRACE_S * 1000)
    const es = (await w.api.request('GET', '/api/events?limit=50', undefined, { headers: { 'accept-language': 'es' } })).body as typeof events
    expect(es.find((e) => e.id === seat && e.action === 'restart')?.message).toBe('Reiniciado sobre una instantánea limpia: su sesión terminó')

    // The new process has had no session: it is not restarted again.
    await acrossPasses(w.server, 3, async () => {
      expect((await vmOf(seat))?.pid).toBe(restarted.pid)
    })
  })
})
