import { type ChildProcess } from 'node:child_process'
import { createConnection, type Socket } from 'node:net'
import { once } from 'node:events'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../../helpers/client'
import { create, uniqueName } from '../../helpers/fixtures'
import { NetWorld, requireTools } from '../../helpers/netns'
import { QEMU } from '../../helpers/qemu'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../../helpers/server'
import { FAST, waitFor } from '../vms/vm-helpers'
import { vmPaths } from '#server/qemu/paths'

// Who is connected, from each source LabVirt reads, with the built server running in a namespace:
//
//   root (this test) --uplink-- H: LabVirt, its QEMU seats (blank disks), bridge br0 10.231.0.1/24,
//                                  the seats' taps on br0 and a `ct` rule (`labvirt network setup`)
//                               S: stands in for seat 1's guest at its address 10.231.0.11,
//                                  serving 3389 (the blank guest serves nothing)
//                               T: the terminal, 10.231.0.50
//
// The flow T -> S crosses H's bridge, exactly like a flow to a guest behind a tap: H's connection
// tracking sees it. The real guest end to end is test/integration/e2e/lab-network.test.ts.

const NET = '10.231.0'
const BRIDGE = 'br0'
const SEAT_IP = `${NET}.11`
const TERMINAL_IP = `${NET}.50`
/** The figure for reporting a connection or its end. */
const REPORT_MS = 5_000
const CLI = resolve(__dirname, '../../../bin/labvirt.mjs')

const world = new NetWorld()
let H: string
let S: string
let T: string
let server: TestServer
let api: ApiClient
let runDir: string
let profile: { id: string }
/** Seat 1 of a tap lab, and the terminal at TERMINAL_IP in that lab. */
let seat: string
let terminal: string

interface VmView {
  id: string
  state: string
  connected: boolean
  terminal?: string
  connectedSince?: string
  consoles: number
}

const vmOf = async (id: string) => ((await api.get<VmView[]>('/api/vms')).body.find((v) => v.id === id))

/** Waits until GET /api/vms shows `id` as `want` says, within REPORT_MS unless told; returns the view and how long it took. */
async function shows(id: string, what: string, want: (vm: VmView) => boolean, ms = REPORT_MS) {
  const t0 = performance.now()
  const vm = await waitFor(`${id} ${what}`, ms, async (see) => {
    const v = await vmOf(id)
    see(v && { state: v.state, connected: v.connected, terminal: v.terminal, consoles: v.consoles })
    return v && want(v) && v
  }, 50)
  return { vm, ms: performance.now() - t0 }
}

/** A connection from namespace `ns` that stays open until `close()`; resolves once the far end echoed through it. */
async function holdConnection(ns: string, host: string, port: number): Promise<{ close: () => Promise<void> }> {
  const proc: ChildProcess = world.spawn(ns, ['busybox', 'nc', host, String(port)])
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  proc.stdin!.write('hello\n')
  await waitFor(`a connection from ${ns} to ${host}:${port} to echo`, 5_000, async (see) => {
    see(out)
    if (proc.exitCode !== null) throw new Error(`nc exited (${proc.exitCode}) before the echo`)
    return out.includes('hello')
  }, 20)
  return { close: () => (proc.kill('SIGKILL'), exited) }
}

/** An admin console: the VM's VNC socket, past QEMU's RFB greeting. */
async function openConsole(id: string): Promise<Socket> {
  const sock = createConnection({ path: vmPaths(runDir, id).vnc })
  const [greeting] = await once(sock, 'data')
  expect(String(greeting)).toMatch(/^RFB 003\.008\n/)
  return sock
}

beforeAll(async () => {
  await requireTools(['ip', '/usr/sbin/nft', 'busybox', 'curl', QEMU])
  H = await world.ns('host')
  S = await world.ns('seat')
  T = await world.ns('term')
  await world.bridge(H, BRIDGE, `${NET}.1/24`)
  await world.veth({ ns: H, name: 'seat0', master: BRIDGE }, { ns: S, name: 'eth0', cidr: `${SEAT_IP}/24` })
  await world.veth({ ns: H, name: 'term0', master: BRIDGE }, { ns: T, name: 'eth0', cidr: `${TERMINAL_IP}/24` })
  // busybox-static's nc has no -k: -ll keeps listening, and -e cat echoes each connection.
  world.spawn(S, ['busybox', 'nc', '-ll', '-p', '3389', '-e', '/bin/cat'])
  const uplink = await world.uplink(H)
  server = await startServer({ ...FAST }, { vms: true, netns: { name: H, address: uplink.inside } })
  api = await adminClient(server.url)
  runDir = join(server.dataDir, 'run')

  const image = await create(api, 'images', { name: uniqueName('ci'), sizeMiB: 16 })
  // A blank disk answers on no port: running counts as ready (probe `none`), so a terminal gets the seat.
  profile = await create(api, 'profiles', { name: uniqueName('cp'), memoryMiB: 64, cpus: 1, disks: [{ image: image.id }], probe: 'none' })
  const client = await create(api, 'clients', { name: uniqueName('cc'), program: 'xfreerdp', args: ['/v:%HOST%:%PORT%'] })
  const lab = await create(api, 'labs', {
    name: uniqueName('cl'), size: 0, max: 2, profiles: [profile.id], ipBase: `${NET}.10`, client: client.id, network: { mode: 'tap', bridge: BRIDGE },
  })
  // Root's one-time step on the host: the seats' taps on the bridge, and connection tracking.
  const setup = await world.exec(H, [process.execPath, CLI, 'network', 'setup'], { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C' } })
  expect(setup.exitCode, `${setup.stdout}\n${setup.stderr}`).toBe(0)
  terminal = (await create(api, 'terminals', { name: uniqueName('ct'), ip: TERMINAL_IP, lab: lab.id })).id
  seat = `${lab.id}-1`
  const cur = (await api.get(`/api/labs/${lab.id}`)).body
  expect((await api.put(`/api/labs/${lab.id}`, { ...cur, size: 1 })).status).toBe(200)
  await shows(seat, 'running', (v) => v.state === 'running', 30_000)
})

afterAll(async () => {
  try {
    await server?.dispose()
  } finally {
    await world.dispose()
  }
})

describe('who is connected', () => {
  it("a tracked flow to a seat's address and port: connected to that terminal within 5 s, idle once closed", async () => {
    expect(await vmOf(seat)).toMatchObject({ connected: false, consoles: 0 })
    const conn = await holdConnection(T, SEAT_IP, 3389)
    const on = await shows(seat, `connected to ${terminal}`, (v) => v.connected && v.terminal === terminal)
    expect(on.vm.consoles).toBe(0)
    expect(Date.now() - Date.parse(on.vm.connectedSince!)).toBeLessThan(10_000)

    // Still the same connection a poll later: `since` does not move.
    await new Promise((r) => setTimeout(r, 2_500))
    expect((await vmOf(seat))?.connectedSince).toBe(on.vm.connectedSince)

    await conn.close()
    await shows(seat, 'idle', (v) => !v.connected && v.terminal === undefined && v.connectedSince === undefined)
  })

  it('an admin console on the VNC socket: consoles 1 and connected with no terminal, 0 once closed', async () => {
    const sock = await openConsole(seat)
    const on = await shows(seat, 'with a console', (v) => v.consoles === 1)
    expect(on.vm).toMatchObject({ connected: true, consoles: 1 })
    expect(on.vm.terminal).toBeUndefined()
    const second = await openConsole(seat)
    await shows(seat, 'with two consoles', (v) => v.consoles === 2)
    second.destroy()
    sock.destroy()
    await shows(seat, 'without consoles', (v) => v.consoles === 0 && !v.connected)
  })

  it("a user-mode seat: an established socket on its forwarded host port, from a terminal's address", async () => {
    const lab = await create(api, 'labs', { name: uniqueName('cu'), size: 1, max: 2, profiles: [profile.id], network: { mode: 'user' } })
    const hostPort: number = lab.network.hostPort
    expect(hostPort).toBeGreaterThan(0)
    // The terminal is on LabVirt's host here: it reaches the forward at 127.0.0.1 (LABVIRT_FORWARD_ADDRESS in tests).
    const local = (await create(api, 'terminals', { name: uniqueName('cut'), ip: '127.0.0.1', lab: lab.id })).id
    const userSeat = `${lab.id}-1`
    await shows(userSeat, 'running', (v) => v.state === 'running', 30_000)

    // QEMU accepts on the host side whether or not its guest answers (this one has no OS): the
    // connection is established there, which is what a terminal's client holds.
    const client = createConnectionIn(hostPort)
    const { proc } = client
    try {
      await client.ready
      await shows(userSeat, `connected to ${local}`, (v) => v.connected && v.terminal === local)
      // A peer that no terminal has (any more) shows by its address.
      expect((await api.delete(`/api/terminals/${local}`)).status).toBe(204)
      await shows(userSeat, 'connected to 127.0.0.1', (v) => v.connected && v.terminal === '127.0.0.1')
    } finally {
      proc.kill('SIGKILL')
    }
    await shows(userSeat, 'idle', (v) => !v.connected)
  })

  it('a seat in use is not restarted for a profile change until its terminal leaves, then at once', async () => {
    const before = (await api.get<{ id: string; pid: number }[]>('/api/vms')).body.find((v) => v.id === seat)!
    const conn = await holdConnection(T, SEAT_IP, 3389)
    let closed = false
    try {
      await shows(seat, `connected to ${terminal}`, (v) => v.connected && v.terminal === terminal)
      const p = (await api.get(`/api/profiles/${profile.id}`)).body
      expect((await api.put(`/api/profiles/${profile.id}`, { ...p, memoryMiB: 80 })).status).toBe(200)
      // Several reconcile passes (1 s apart here) go by: the seat keeps its process.
      await new Promise((r) => setTimeout(r, 4_000))
      expect((await api.get<{ id: string; pid: number }[]>('/api/vms')).body.find((v) => v.id === seat)?.pid).toBe(before.pid)
      await conn.close()
      closed = true
      await waitFor(`${seat} restarted once idle`, 15_000, async (see) => {
        const v = (await api.get<{ id: string; pid?: number; state: string }[]>('/api/vms')).body.find((x) => x.id === seat)
        see(v)
        return v?.state === 'running' && v.pid !== undefined && v.pid !== before.pid
      })
    } finally {
      if (!closed) await conn.close()
    }
  })

  it('LABVIRT_CONNECTION_TRACKING=heartbeat: the launcher\'s heartbeats decide; a restarted LabVirt counts open consoles again', async () => {
    const sock = await openConsole(seat)
    await shows(seat, 'with a console', (v) => v.consoles === 1)
    server.env.LABVIRT_CONNECTION_TRACKING = 'heartbeat'
    await server.restart()
    // The VM ran on; its new monitor counts the console from query-vnc.
    await shows(seat, 'with a console after the restart', (v) => v.consoles === 1 && v.state === 'running', 15_000)
    sock.destroy()
    await shows(seat, 'without consoles', (v) => v.consoles === 0 && !v.connected)

    // A tracked flow alone no longer counts...
    const conn = await holdConnection(T, SEAT_IP, 3389)
    try {
      const base = `http://${NET}.1:${new URL(server.url).port}/api/terminal`
      const fromTerminal = (args: string[]) => world.exec(T, ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', ...args])
      // ...the terminal's own word does: it asks for its seat, then reports its client connected.
      expect((await fromTerminal(['-H', 'Accept: application/json', base])).stdout).toBe('200')
      await new Promise((r) => setTimeout(r, 2_500))
      expect(await vmOf(seat)).toMatchObject({ connected: false })
      const beat = (state: string) => fromTerminal(['-X', 'POST', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ state }), `${base}/heartbeat`])
      expect((await beat('connected')).stdout).toBe('204')
      await shows(seat, `connected to ${terminal} by heartbeat`, (v) => v.connected && v.terminal === terminal)
      expect((await beat('idle')).stdout).toBe('204')
      await shows(seat, 'idle by heartbeat', (v) => !v.connected)
    } finally {
      await conn.close()
    }
  })
})

/** A TCP connection from H (LabVirt's host) to 127.0.0.1:port, held open by busybox nc until killed. */
function createConnectionIn(port: number) {
  const proc = world.spawn(H, ['busybox', 'nc', '127.0.0.1', String(port)])
  const ready = waitFor(`a connection to 127.0.0.1:${port} in ${H}`, 5_000, async (see) => {
    if (proc.exitCode !== null) throw new Error(`nc exited (${proc.exitCode})`)
    const tcp = (await world.exec(H, ['cat', '/proc/net/tcp'])).stdout
    see(tcp)
    // Established (01) on the forwarded port: the kernel completed the handshake for QEMU's listener.
    return tcp.split('\n').some((l) => l.includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `) && / 01 /.test(l))
  }, 50)
  return { proc, ready }
}
