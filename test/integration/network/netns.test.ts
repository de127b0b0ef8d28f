import { existsSync, statSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../../helpers/client'
import { create, uniqueName } from '../../helpers/fixtures'
import { NetWorld } from '../../helpers/netns'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../../helpers/server'
import { alive, cmdline, FAST, getVm, waitFor } from '../vms/vm-helpers'

// Tap and bridge labs and the managed dnsmasq, in namespaces this test creates:
//   H: the LabVirt server (root, as in production), bridge br0 198.18.9.1/24, the seats' taps,
//      and the dnsmasq LabVirt runs on br0
//   T: a DHCP client on a veth enslaved to br0
// `labvirt network setup` runs in H as root would; for a bridge lab it also writes /etc/qemu and
// sets the setuid bit of qemu-bridge-helper, so those runs see /etc and /usr/lib/qemu through
// overlays in a private mount namespace: the host's own files stay untouched. H starts with
// bridge-nf-call-iptables at 0 and no nftables table, so setup turns connection tracking on there.

const NET = '198.18.9'
const CLI = resolve(__dirname, '../../../bin/labvirt.mjs')
const HELPER = '/usr/lib/qemu/qemu-bridge-helper'
const MAC_BASE = '52:54:00:77:01:00'
const taps = [0, 1, 2].map((n) => `lv52540077010${n}`)
const BRIDGE_NF_CALL = '/proc/sys/net/bridge/bridge-nf-call-iptables'
const NFT_STEP = "/usr/sbin/nft 'add table inet labvirt { chain track { type filter hook forward priority 0; policy accept; ct state established counter; }; }'"
const TRACKING_GAPS = [
  'Connection tracking may be off on this host: the nftables table inet labvirt, whose ct rule turns it on, is missing',
  'Flows across a bridge are not tracked: net.bridge.bridge-nf-call-iptables is 0',
]

const world = new NetWorld()
let H: string
let server: TestServer
let api: ApiClient
let profile: string
let tapLab: string
let overlay: string

beforeAll(async () => {
  H = await world.ns('host')
  await world.bridge(H, 'br0', `${NET}.1/24`)
  await world.exec(H, ['sh', '-c', `echo 0 > ${BRIDGE_NF_CALL}`])
  const uplink = await world.uplink(H)
  server = await startServer({ ...FAST, LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: `${NET}.0,static` }, { vms: true, netns: { name: H, address: uplink.inside } })
  api = await adminClient(server.url)
  const image = await create(api, 'images', { name: uniqueName('ti'), sizeMiB: 16 })
  profile = (await create(api, 'profiles', { name: uniqueName('tp'), memoryMiB: 64, cpus: 1, disks: [{ image: image.id }] })).id
  overlay = await mkdtemp(join(tmpdir(), 'labvirt-overlay-'))
})

afterAll(async () => {
  try {
    await server?.dispose()
  } finally {
    await world.dispose()
    if (overlay) await rm(overlay, { recursive: true, force: true })
  }
})

const env = () => ({ LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C' })
/** `labvirt <args>` in H, as root on the LabVirt host. */
const labvirt = (args: string[]) => world.exec(H, [process.execPath, CLI, ...args], { reject: false, env: env() })

/** `labvirt <args>` in H with /etc and /usr/lib/qemu seen through overlays (writes land in `overlay`). */
async function labvirtOverlaid(args: string[]) {
  const mounts = [['/etc', 'etc'], ['/usr/lib/qemu', 'qemu']].map(([dir, name]) => {
    const upper = join(overlay, name!, 'upper')
    const work = join(overlay, name!, 'work')
    return `mkdir -p ${upper} ${work} && mount -t overlay overlay -o lowerdir=${dir},upperdir=${upper},workdir=${work} ${dir}`
  })
  const script = `${mounts.join(' && ')} && exec ip netns exec "$0" "$@"`
  return execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, H, process.execPath, CLI, ...args], { reject: false, env: env() })
}

/** The tracking table in H, as nft lists it ('' when there is none). */
const nftTable = async () => (await world.exec(H, ['/usr/sbin/nft', 'list', 'table', 'inet', 'labvirt'], { reject: false })).stdout

async function links(): Promise<Map<string, any>> {
  const { stdout } = await world.exec(H, ['ip', '-j', '-d', 'link', 'show'])
  return new Map(JSON.parse(stdout).map((l: any) => [l.ifname, l]))
}

describe('a tap lab on a host without its taps', () => {
  it('fails its seat with the missing step, and `network check` names it and the missing connection tracking', async () => {
    tapLab = (await create(api, 'labs', { name: uniqueName('tl'), size: 1, max: 2, ipBase: `${NET}.100`, macBase: MAC_BASE, profiles: [profile], network: { mode: 'tap', bridge: 'br0' } })).id
    const vm = await waitFor('seat 1 failed', 20_000, async (see) => {
      const v = await getVm(api, `${tapLab}-1`)
      see(v)
      return v?.state === 'failed' && v
    }, 200)
    expect(vm.error).toBe(`Network not ready: the tap ${taps[1]} does not exist. Run "labvirt network setup" as root`)
    const check = await labvirt(['network', 'check', '--user', 'nobody'])
    expect(check.exitCode).toBe(1)
    expect(check.stdout.split('\n')).toEqual([
      ...taps.map((t) => `${tapLab}: the tap ${t} does not exist`),
      ...TRACKING_GAPS,
      'Run "labvirt network setup" as root to fix this',
    ])
  })

  it('`network setup --dry-run` prints the commands and changes nothing', async () => {
    const r = await labvirt(['network', 'setup', '--dry-run', '--user', 'nobody'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.split('\n')).toEqual([
      ...taps.flatMap((t) => [`ip tuntap add dev ${t} mode tap user nobody`, `ip link set ${t} master br0`, `ip link set ${t} up`]),
      NFT_STEP,
      `echo 1 > ${BRIDGE_NF_CALL}`,
    ])
    expect([...(await links()).keys()].filter((n) => n.startsWith('lv'))).toEqual([])
    expect(await nftTable()).toBe('')
    expect((await world.exec(H, ['cat', BRIDGE_NF_CALL])).stdout).toBe('0')
  })

  it('`network setup` makes the taps and turns tracking on, once; the seat then starts on its tap', async () => {
    const r = await labvirt(['network', 'setup', '--user', 'nobody'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.split('\n')).toHaveLength(11)
    expect(r.stdout.split('\n').slice(-2)).toEqual([`+ ${NFT_STEP}`, `+ echo 1 > ${BRIDGE_NF_CALL}`])
    expect(await nftTable()).toMatch(/chain track \{\n\s+type filter hook forward priority filter; policy accept;\n\s+ct state established counter/)
    expect((await world.exec(H, ['cat', BRIDGE_NF_CALL])).stdout).toBe('1')
    const now = await links()
    for (const t of taps) {
      expect(now.get(t), t).toMatchObject({ master: 'br0', linkinfo: { info_kind: 'tun', info_data: { type: 'tap', persist: true, user: 'nobody' } } })
      expect(now.get(t).flags).toContain('UP')
    }
    const again = await labvirt(['network', 'setup', '--user', 'nobody'])
    expect(again.stdout).toBe('Nothing to do: every tap and bridge lab has its network on this host')
    const check = await labvirt(['network', 'check', '--user', 'nobody'])
    expect([check.exitCode, check.stdout]).toEqual([0, 'Every tap and bridge lab has its network on this host'])

    const vm = await waitFor('seat 1 running', 60_000, async (see) => {
      const v = await getVm(api, `${tapLab}-1`)
      see(v)
      return v?.state === 'running' && v
    }, 200)
    expect(cmdline(vm.pid!)).toContain(`tap,id=net0,ifname=${taps[1]},script=no,downscript=no`)
  })
})

describe('a bridge lab', () => {
  let bridgeLab: string
  const BR = `${world.id.slice(-6)}b`

  it('`network check` names the bridge, bridge.conf and the helper; setup fixes them once', async () => {
    bridgeLab = (await create(api, 'labs', { name: uniqueName('bl'), size: 0, max: 2, profiles: [profile], network: { mode: 'bridge', bridge: BR } })).id
    const hostHelperMode = statSync(HELPER).mode
    const check = await labvirt(['network', 'check', '--user', 'nobody'])
    expect(check.exitCode).toBe(1)
    const lines = check.stdout.split('\n')
    expect(lines).toContain(`${bridgeLab}: the bridge ${BR} does not exist`)
    if (!existsSync('/etc/qemu/bridge.conf')) expect(lines).toContain(`${bridgeLab}: /etc/qemu/bridge.conf does not allow the bridge ${BR}`)
    if (!(hostHelperMode & 0o4000)) expect(lines).toContain(`${bridgeLab}: ${HELPER} is not setuid root`)

    const r = await labvirtOverlaid(['network', 'setup', '--user', 'nobody'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([`+ ip link add ${BR} type bridge`, `+ ip link set ${BR} up`])
    expect(r.stdout).toContain(`+ echo 'allow ${BR}' >> /etc/qemu/bridge.conf`)
    expect((await links()).get(BR)).toMatchObject({ linkinfo: { info_kind: 'bridge' } })
    const conf = await readFile(join(overlay, 'etc/upper/qemu/bridge.conf'), 'utf8').catch(() => '')
    if (!existsSync('/etc/qemu/bridge.conf')) expect(conf).toBe(`allow ${BR}\n`)
    if (!(hostHelperMode & 0o4000)) expect((await stat(join(overlay, 'qemu/upper/qemu-bridge-helper'))).mode & 0o4000).toBeTruthy()
    // The host's own files are as they were.
    expect(statSync(HELPER).mode).toBe(hostHelperMode)

    const again = await labvirtOverlaid(['network', 'setup', '--user', 'nobody'])
    expect(again.stdout).toBe('Nothing to do: every tap and bridge lab has its network on this host')
    const checked = await labvirtOverlaid(['network', 'check', '--user', 'nobody'])
    expect([checked.exitCode, checked.stdout]).toEqual([0, 'Every tap and bridge lab has its network on this host'])
  })
})

describe('the dnsmasq LabVirt runs', () => {
  const hostsFile = () => join(server.dataDir, 'dhcp/hosts')
  const pidOf = async () => Number((await readFile(join(server.dataDir, 'dhcp/dnsmasq.pid'), 'utf8')).trim())
  const reads = () => server.output().split('\n').filter((l) => l.includes(`read ${hostsFile()}`)).length

  it('serves the seats\' reservations on the configured interface', async () => {
    await waitFor('the hosts file lists the tap lab\'s seats', 10_000, async (see) => {
      const text = await readFile(hostsFile(), 'utf8').catch(() => '')
      see(text)
      return text.includes(`52:54:00:77:01:02,${NET}.102,${tapLab}-2`)
    })
    // LabVirt's own file (umask 077): dnsmasq runs as LabVirt's user and reads it as its owner.
    expect((await stat(hostsFile())).mode & 0o777).toBe(0o600)
    const argv = cmdline(await pidOf())
    expect(argv).toEqual(expect.arrayContaining(['--interface=br0', `--dhcp-range=${NET}.0,static`, `--dhcp-hostsfile=${hostsFile()}`, '--port=0']))
  })

  it('rereads them when a terminal is added: a DHCP client with its MAC gets its reserved address', async () => {
    const T = await world.ns('term')
    const mac = 'aa:bb:cc:77:00:05'
    await world.veth({ ns: H, name: 'tv0', master: 'br0' }, { ns: T, name: 'eth0' })
    await world.exec(T, ['ip', 'link', 'set', 'eth0', 'address', mac])
    const before = reads()
    const pid = await pidOf()
    await create(api, 'terminals', { name: uniqueName('tt'), lab: tapLab, mac, ip: `${NET}.50` })
    await waitFor('dnsmasq reread the hosts file', 10_000, async () => reads() > before)
    expect(await pidOf(), 'reloaded, not restarted').toBe(pid)
    expect(await readFile(hostsFile(), 'utf8')).toContain(`${mac},${NET}.50,`)
    const dhcp = await world.exec(T, ['busybox', 'udhcpc', '-i', 'eth0', '-q', '-n', '-t', '5', '-T', '1', '-s', '/bin/true'], { reject: false, timeout: 20_000 })
    expect(`${dhcp.stdout}\n${dhcp.stderr}`).toContain(`lease of ${NET}.50 obtained`)
  })

  it('stops with LabVirt and keeps its lease file', async () => {
    const pid = await pidOf()
    await server.stop()
    expect(alive(pid)).toBe(false)
    expect(await readFile(join(server.dataDir, 'dhcp/leases'), 'utf8')).toContain('aa:bb:cc:77:00:05')
  })
})
