import { describe, expect, it } from 'vitest'
import { describeStep, setupPlan, type SetupState } from '../../../server/network/setup'

const state = (over: Partial<SetupState> = {}): SetupState => ({ links: new Map(), bridgeConf: [], confDirExists: false, helperSetuid: false, ...over })
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
