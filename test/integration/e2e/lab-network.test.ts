import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../../helpers/client'
import { create, uniqueName } from '../../helpers/fixtures'
import { NetWorld, requireTools } from '../../helpers/netns'
import { QEMU } from '../../helpers/qemu'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../../helpers/server'
import { TINY_GUEST_PORT, tinyGuestProfile } from '../../helpers/tiny-guest'
import { FAST, getVm, type Vm, waitFor } from '../vms/vm-helpers'

// A lab network end to end, in namespaces this test creates:
//
//   root (this test) --uplink-- H: LabVirt server, its QEMU seats and dnsmasq, bridge br0 198.18.7.1/24
//                                  seat 1's tap on br0 and the nftables table that turns connection
//                                  tracking on (both made by `labvirt network setup`)
//                               T: the terminal, 198.18.7.200, a veth on br0
//
// The seat is the real tiny guest: it asks for an address by DHCP, and LabVirt's dnsmasq answers
// with the seat's reservation; then it serves TCP 3389. The terminal asks LabVirt where to go,
// connects there, and LabVirt reports the seat connected to that terminal, then idle once it closes.
// Nothing leaves the namespaces: 198.18.0.0/15 is the RFC 2544 test range.

const NET = '198.18.7'
const BRIDGE = 'br0'
const TERMINAL_IP = `${NET}.200`
const IP_BASE = `${NET}.100`
const SEAT_IP = `${NET}.101`
/** What a report of a connection or its end may take (the issue's figure). */
const REPORT_MS = 5_000
const CLI = resolve(__dirname, '../../../bin/labvirt.mjs')

/** GET /api/vms with the connection fields of issue 4. */
type SeatView = Vm & { connected: boolean; terminal?: string; connectedSince?: string }
const seatView = async (id: string) => (await getVm(api, id)) as SeatView | undefined

const world = new NetWorld()
let H: string
let T: string
let server: TestServer
let api: ApiClient

beforeAll(async () => {
  await requireTools(['ip', '/usr/sbin/nft', 'conntrack', 'dnsmasq', 'curl', 'busybox', QEMU])
  H = await world.ns('host')
  T = await world.ns('term')
  await world.bridge(H, BRIDGE, `${NET}.1/24`)
  await world.veth({ ns: H, name: 'term0', master: BRIDGE }, { ns: T, name: 'eth0', cidr: `${TERMINAL_IP}/24` })
  const uplink = await world.uplink(H)
  server = await startServer(
    { ...FAST, LABVIRT_DHCP_INTERFACE: BRIDGE, LABVIRT_DHCP_RANGE: `${NET}.0,static`, LABVIRT_SAMPLE_INTERVAL: '1' },
    { vms: true, netns: { name: H, address: uplink.inside } },
  )
  api = await adminClient(server.url)
})

afterAll(async () => {
  try {
    await server?.dispose()
  } finally {
    await world.dispose()
  }
})

/** One line through a fresh connection from T to host:port: the guest echoes it (execa strips the newline); '' if nothing answers. */
async function echoFromTerminal(host: string, port: number): Promise<string> {
  const r = await world.exec(T, ['busybox', 'nc', '-w', '2', host, String(port)], { input: 'ping\n', reject: false, timeout: 5_000 })
  return r.stdout
}

/** Runs `labvirt <args>` in H, as root would on the LabVirt host. */
function labvirt(args: string[]) {
  return world.exec(H, [process.execPath, CLI, ...args], { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C' } })
}

/** Opens a connection from T that stays open until `close()`; resolves once the guest echoed through it. */
async function holdConnection(host: string, port: number): Promise<{ close: () => Promise<void> }> {
  const proc = world.spawn(T, ['busybox', 'nc', host, String(port)])
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  proc.stdin!.write('hello\n')
  await waitFor('the held connection to echo', 5_000, async (see) => {
    see(out)
    if (proc.exitCode !== null) throw new Error(`nc exited (${proc.exitCode}) before the echo`)
    return out.includes('hello')
  }, 20)
  // End of input: nc shuts its sending side, the guest's cat ends and closes, nc exits.
  return { close: () => (proc.stdin!.end(), exited) }
}

describe('a lab on a bridge, end to end', () => {
  it('a terminal gets its seat by DHCP reservation, connects, and LabVirt reports it connected then idle', { timeout: 180_000 }, async () => {
    const { profile } = await tinyGuestProfile(api, join(server.dataDir, 'images'), 'e2e')
    const client = await create(api, 'clients', { name: uniqueName('e2ec'), program: 'xfreerdp', args: ['/v:%HOST%:%PORT%'] })
    const lab = await create(api, 'labs', {
      name: uniqueName('e2el'), size: 0, max: 2, profiles: [profile.id], ipBase: IP_BASE, client: client.id,
      network: { mode: 'tap', bridge: BRIDGE, port: TINY_GUEST_PORT },
    })
    const terminal = await create(api, 'terminals', { name: uniqueName('e2et'), ip: TERMINAL_IP, lab: lab.id })
    const seat = `${lab.id}-1`
    const mac = `${lab.macBase.slice(0, -2)}01`

    // LabVirt's reservations, as dnsmasq reads them.
    const hosts = await api.get('/api/dhcp/dnsmasq')
    expect(hosts.status).toBe(200)
    expect(String(hosts.body).split('\n')).toContainEqual(expect.stringMatching(new RegExp(`^${mac},${SEAT_IP.replaceAll('.', '\\.')}(,|$)`)))

    // The privileged step: persistent taps on the bridge for the lab's seats, and connection
    // tracking (without a rule using `ct` nobody would ever show as connected).
    const setup = await labvirt(['network', 'setup'])
    expect(setup.exitCode, `${setup.stdout}\n${setup.stderr}`).toBe(0)
    expect(setup.stdout).toContain('+ /usr/sbin/nft \'add table inet labvirt {')

    const cur = (await api.get(`/api/labs/${lab.id}`)).body
    expect((await api.put(`/api/labs/${lab.id}`, { ...cur, size: 1 })).status).toBe(200)
    // TCG boot of one guest is about 7 s on a quiet machine; other tests may share the two cores.
    // Answering from the terminal, and ready as LabVirt's probes see it: only then does the broker give it.
    await waitFor(`${seat} answering on ${SEAT_IP}:${TINY_GUEST_PORT} from the terminal, and ready`, 90_000, async (see) => {
      const vm = await getVm(api, seat)
      see(vm && `${vm.state}${vm.ready ? ' ready' : ''}${vm.error ? ` (${vm.error})` : ''}`)
      return vm?.state === 'running' && vm.ready && (await echoFromTerminal(SEAT_IP, TINY_GUEST_PORT)) === 'ping'
    }, 500)
    // The lease came from LabVirt's own dnsmasq (LABVIRT_DHCP_INTERFACE), not from anything else.
    const leases = await readFile(join(server.dataDir, 'dhcp', 'leases'), 'utf8')
    expect(leases).toMatch(new RegExp(`^\\d+ ${mac} ${SEAT_IP.replaceAll('.', '\\.')} `, 'm'))

    // The terminal asks LabVirt where to connect.
    const asked = await world.exec(T, ['curl', '-sS', '--max-time', '10', '-H', 'Accept: application/json', `http://${NET}.1:${new URL(server.url).port}/api/terminal`])
    const answer = JSON.parse(asked.stdout)
    expect(answer).toMatchObject({ terminal: terminal.id, lab: lab.id, seat, host: SEAT_IP, port: TINY_GUEST_PORT, program: 'xfreerdp', argv: [`/v:${SEAT_IP}:${TINY_GUEST_PORT}`] })

    // Once the echo is back the connection is established: LabVirt must see it within REPORT_MS.
    const before = Date.now()
    const conn = await holdConnection(answer.host, answer.port)
    const connected = await waitFor(`${seat} reported connected to ${terminal.id}`, REPORT_MS, async (see) => {
      const vm = await seatView(seat)
      see(vm && { connected: vm.connected, terminal: vm.terminal, connectedSince: vm.connectedSince })
      return vm?.connected === true && vm.terminal === terminal.id && vm
    }, 50)
    // Since when: LabVirt saw the flow after it opened.
    const since = Date.parse(connected.connectedSince!)
    expect(since).toBeGreaterThanOrEqual(before - 1)
    expect(since).toBeLessThanOrEqual(Date.now())

    await conn.close()
    await waitFor(`${seat} reported idle`, REPORT_MS, async (see) => {
      const vm = await seatView(seat)
      see(vm && { connected: vm.connected, terminal: vm.terminal })
      return vm && vm.connected === false && vm.terminal === undefined
    }, 50)

    // The seat's tap is counted by the host: its traffic (DHCP, the echoes) shows in the seat's
    // figures, received and sent as the guest sees them.
    const stats = await waitFor(`${seat} network figures`, 10_000, async (see) => {
      const res = await api.get(`/api/vms/${seat}/stats`)
      see(res.body?.last)
      const s = res.body
      return s?.last?.net && s.series.netRx.some((x: number | null) => x! > 0) && s.series.netTx.some((x: number | null) => x! > 0) && s
    }, 200)
    expect(stats.last.net.rxBytes).toBeGreaterThan(0)
    expect(stats.last.net.txBytes).toBeGreaterThan(0)
  })
})
