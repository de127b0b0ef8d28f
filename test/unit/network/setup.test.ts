import { describe, expect, it } from 'vitest'
import { setupPlan, type SetupState } from '#server/network/setup'
import { describeStep } from '#server/network/steps'
import { trackingGaps } from '#server/network/tracking'

// Tracking in place unless a test says otherwise: most tests are about links and bridge files.
const TRACKING = { table: true, bridgedFlows: true }
const state = (over: Partial<SetupState> = {}): SetupState => ({ links: new Map(), bridgeConf: [], confDirExists: false, helperSetuid: false, tracking: TRACKING, ...over })
const tapLab = { macBase: '52:54:00:aa:bb:00', max: 2, network: { mode: 'tap' as const, bridge: 'br1' } }
const bridgeLab = { macBase: '52:54:00:aa:cc:00', max: 9, network: { mode: 'bridge' as const, bridge: 'br2' } }
const userLab = { macBase: '52:54:00:aa:dd:00', max: 9, network: { mode: 'user' as const } }
const plan = (labs: Parameters<typeof setupPlan>[0], s = state(), user = 'labvirt') => setupPlan(labs, s, user).map(describeStep)

describe('labvirt network setup plan', () => {
  it('on a bare host: bridges, bridge.conf, the helper, and a tap per seat (0 for maintenance)', () => {
    expect(plan([userLab, bridgeLab, tapLab])).toEqual([
      'ip link add br2 type bridge',
      'ip link set br2 up',
      'mkdir -p /etc/qemu',
      "echo 'allow br2' >> /etc/qemu/bridge.conf",
      'chmod u+s /usr/lib/qemu/qemu-bridge-helper',
      'ip link add br1 type bridge',
      'ip link set br1 up',
      ...[0, 1, 2].flatMap((n) => [
        `ip tuntap add dev lv525400aabb0${n} mode tap user labvirt`,
        `ip link set lv525400aabb0${n} master br1`,
        `ip link set lv525400aabb0${n} up`,
      ]),
    ])
  })

  it('skips what is in place', () => {
    const links = new Map([
      ['br1', { kind: 'bridge', up: true }],
      ['br2', { kind: 'bridge', up: false }],
      ['lv525400aabb00', { kind: 'tap', up: true, master: 'br1', tapUser: 'labvirt' }],
      ['lv525400aabb01', { kind: 'tap', up: false, tapUser: 'labvirt' }],
      ['lv525400aabb02', { kind: 'tap', up: true, master: 'br1', tapUser: 'someone' }],
    ])
    expect(plan([bridgeLab, tapLab], state({ links, bridgeConf: ['allow br2'], confDirExists: true, helperSetuid: true }))).toEqual([
      'ip link set br2 up',
      'ip link set lv525400aabb01 master br1',
      'ip link set lv525400aabb01 up',
      // made for another user: made again for this one
      'ip link del lv525400aabb02',
      'ip tuntap add dev lv525400aabb02 mode tap user labvirt',
      'ip link set lv525400aabb02 master br1',
      'ip link set lv525400aabb02 up',
    ])
  })

  it('needs no setuid helper, nor taps of its own, when QEMU runs as root', () => {
    const links: SetupState['links'] = new Map([
      ['br1', { kind: 'bridge', up: true }],
      ['br2', { kind: 'bridge', up: true }],
    ])
    for (const n of [0, 1, 2]) links.set(`lv525400aabb0${n}`, { kind: 'tap', up: true, master: 'br1', tapUser: 'someone' })
    expect(plan([bridgeLab, tapLab], state({ links, bridgeConf: ['allow br2'], confDirExists: true }), 'root')).toEqual([])
  })

  it('has nothing to do once everything is there, and leaves an admin\'s deny alone', () => {
    const links = new Map([['br2', { kind: 'bridge', up: true }]])
    expect(plan([bridgeLab], state({ links, bridgeConf: ['allow all'], confDirExists: true, helperSetuid: true }))).toEqual([])
    expect(plan([bridgeLab], state({ links, bridgeConf: ['deny br2', 'allow all'], confDirExists: true, helperSetuid: true }))).toEqual([])
  })
})

describe('connection tracking in the setup plan', () => {
  const NFT = "/usr/sbin/nft 'add table inet labvirt { chain track { type filter hook forward priority 0; policy accept; ct state established counter; }; }'"
  const SYSCTL = 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'
  const ready = { links: new Map([['br2', { kind: 'bridge', up: true }]]), bridgeConf: ['allow br2'], confDirExists: true, helperSetuid: true }
  const routedTapLab = { ...tapLab, network: { mode: 'tap' as const } }
  const taps = new Map([0, 1, 2].map((n) => [`lv525400aabb0${n}`, { kind: 'tap', up: true, tapUser: 'labvirt' }]))

  it('the nftables table and the sysctl, after the links, when a bridged lab lacks them', () => {
    const steps = plan([bridgeLab], state({ ...ready, tracking: { table: false, bridgedFlows: false } }))
    expect(steps).toEqual([NFT, SYSCTL])
  })

  it('loads br_netfilter first when the sysctl does not exist', () => {
    expect(plan([bridgeLab], state({ ...ready, tracking: { table: true, bridgedFlows: undefined } }))).toEqual(['modprobe br_netfilter', SYSCTL])
  })

  it('lists the table when this user cannot tell whether it exists (a --dry-run without root)', () => {
    expect(plan([bridgeLab], state({ ...ready, tracking: { table: undefined, bridgedFlows: true } }))).toEqual([NFT])
  })

  it('a tap lab without a bridge is routed: the table only', () => {
    expect(plan([routedTapLab], state({ links: taps, tracking: { table: false, bridgedFlows: false } }))).toEqual([NFT])
  })

  it('nothing for user-mode labs, nor when everything is there', () => {
    expect(plan([userLab], state({ tracking: { table: false, bridgedFlows: undefined } }))).toEqual([])
    expect(plan([bridgeLab], state(ready))).toEqual([])
  })
})

describe('connection tracking gaps (labvirt network check)', () => {
  const gaps = (labs: Parameters<typeof trackingGaps>[0], tracking: SetupState['tracking']) => trackingGaps(labs, tracking).map((g) => g.msgid)
  const TABLE = 'Connection tracking may be off on this host: the nftables table inet labvirt, whose ct rule turns it on, is missing'

  it('names the missing table and the sysctl', () => {
    expect(gaps([bridgeLab], { table: false, bridgedFlows: false })).toEqual([TABLE, 'Flows across a bridge are not tracked: net.bridge.bridge-nf-call-iptables is 0'])
    expect(gaps([tapLab], { table: true, bridgedFlows: undefined })).toEqual(['Flows across a bridge are not tracked: br_netfilter is not loaded'])
  })

  it('says nothing it cannot know, nor for labs that need no tracking', () => {
    expect(gaps([tapLab], { table: undefined, bridgedFlows: true })).toEqual([])
    expect(gaps([{ network: { mode: 'tap' } }], { table: true, bridgedFlows: false })).toEqual([])
    expect(gaps([userLab], { table: false, bridgedFlows: false })).toEqual([])
  })
})
