import { describe, expect, it } from 'vitest'
import { desiredVms, type Model } from '#server/reconcile/desired'

const meta = { revision: 1, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' }
// The hardware fields at their defaults.
const FIELDS = { machine: 'pc', cpuModel: null, rtcLocalTime: false, usbTablet: false, sound: 'none', display: 'std', smbios: {}, firmware: 'bios', probe: 'rdp' } as const
const host = { runDir: '/srv/labvirt/run', imagesDir: '/srv/labvirt/images', accel: 'tcg' as const }

function model(over: Partial<Model> = {}): Model {
  return {
    images: [
      { id: 'win', name: 'win', description: '', file: 'win.qcow2', format: 'qcow2', virtualSize: 1, actualSize: 1, ...meta },
      { id: 'data', name: 'data', description: '', file: 'data.qcow2', format: 'qcow2', virtualSize: 1, actualSize: 1, ...meta },
    ],
    profiles: [
      { id: 'old', name: 'old', description: '', memoryMiB: 512, cpus: 1, nic: 'virtio', disks: [{ image: 'win', bus: 'ide', media: 'disk' }], ...FIELDS, extraArgs: [], active: false, restartPeriodHours: null, ...meta },
      { id: 'win10', name: 'win10', description: '', memoryMiB: 2048, cpus: 2, nic: 'e1000', disks: [{ image: 'win', bus: 'ide', media: 'disk' }], ...FIELDS, extraArgs: [], active: true, restartPeriodHours: 24, ...meta, revision: 7 },
      { id: 'linux', name: 'linux', description: '', memoryMiB: 1024, cpus: 1, nic: 'virtio', disks: [{ image: 'data', bus: 'virtio', media: 'disk' }], ...FIELDS, extraArgs: [], active: true, restartPeriodHours: null, ...meta },
    ],
    labs: [
      { id: 'a', name: 'a', description: '', size: 2, max: 4, profiles: ['old', 'win10', 'linux'], macBase: '52:54:00:0a:0b:00', network: { mode: 'user' }, ...meta },
      { id: 'b', name: 'b', description: '', size: 1, max: 1, profiles: ['linux'], macBase: '52:54:00:0c:0d:00', network: { mode: 'bridge', bridge: 'br7' }, ...meta },
    ],
    maintenance: [],
    manual: [],
    versions: [],
    ...over,
  }
}

describe('desiredVms', () => {
  it('runs seats 1..size of each lab on its first active profile, on snapshot disks', () => {
    const { vms, problems } = desiredVms(model(), host)
    expect(problems).toEqual([])
    expect(vms.map((v) => [v.id, v.profile, v.seat, v.version])).toEqual([
      ['a-1', 'win10', 1, 1],
      ['a-2', 'win10', 2, 1],
      ['b-1', 'linux', 1, 1],
    ])
    const a2 = vms.find((v) => v.id === 'a-2')!
    expect(a2.spec).toMatchObject({ memoryMiB: 2048, cpus: 2, snapshot: true, nic: { model: 'e1000', mac: '52:54:00:0a:0b:02', netdev: { mode: 'user' } } })
    expect(a2.argv).toContain('if=none,id=drive-ide0,file=/srv/labvirt/images/win.qcow2,format=qcow2,snapshot=on')
    expect(a2.restartPeriodHours).toBe(24)
    expect(vms.find((v) => v.id === 'b-1')!.spec.nic).toMatchObject({ netdev: { mode: 'bridge', bridge: 'br7' } })
  })

  it('resets the seats of a profile with resetAfterSession after its grace; a profile stored without the fields does not', () => {
    const m = model()
    m.profiles[2] = { ...m.profiles[2]!, resetAfterSession: true, sessionGraceSeconds: 30 }
    const before = desiredVms(model(), host).vms
    const { vms } = desiredVms(m, host)
    expect(vms.find((v) => v.id === 'b-1')!.resetAfterSessionSeconds).toBe(30)
    expect(vms.find((v) => v.id === 'a-1')!.resetAfterSessionSeconds).toBeUndefined()
    // Only when a seat restarts, not how QEMU runs: no restart of the lab for the setting itself.
    expect(vms.find((v) => v.id === 'b-1')!.hash).toBe(before.find((v) => v.id === 'b-1')!.hash)
    m.profiles[2] = { ...m.profiles[2]!, resetAfterSession: true, sessionGraceSeconds: undefined }
    expect(desiredVms(m, host).vms.find((v) => v.id === 'b-1')!.resetAfterSessionSeconds).toBe(120)
  })

  it('gives each VM a stable UUID and a hash that changes with its command line only', () => {
    const first = desiredVms(model(), host).vms
    const again = desiredVms(model(), host).vms
    expect(again.map((v) => [v.spec.uuid, v.hash])).toEqual(first.map((v) => [v.spec.uuid, v.hash]))
    expect(new Set(first.map((v) => v.spec.uuid)).size).toBe(first.length)
    const m = model()
    m.profiles[1] = { ...m.profiles[1]!, memoryMiB: 4096 }
    const changed = desiredVms(m, host).vms
    expect(changed.find((v) => v.id === 'a-1')!.hash).not.toBe(first.find((v) => v.id === 'a-1')!.hash)
    expect(changed.find((v) => v.id === 'b-1')!.hash).toBe(first.find((v) => v.id === 'b-1')!.hash)
  })

  it('runs a writable <profile>-maint on the first lab allowing it, MAC seat 0, and keeps seats on its disks down', () => {
    const { vms } = desiredVms(model({ maintenance: [{ profile: 'win10', mode: 'exclusive', by: 'admin' }] }), host)
    expect(vms.map((v) => v.id)).toEqual(['win10-maint', 'b-1'])
    const maint = vms[0]!
    expect(maint).toMatchObject({ kind: 'maintenance', lab: 'a', profile: 'win10' })
    expect(maint.spec.snapshot).toBe(false)
    expect(maint.spec.nic?.mac).toBe('52:54:00:0a:0b:00')
    expect(maint.argv.join(' ')).not.toContain('snapshot=on')
  })

  // win10 at v3 (v2 its parent); the seats run v3's file, and know their hash on every version.
  const v = (n: number, parent?: number) => ({ n, image: n === 1 ? 'win.qcow2' : `win10.v${n}.qcow2`, format: 'qcow2', createdAt: meta.createdAt, createdBy: 'admin', note: '', parent })
  const versions = (currentVersion: number, moveNow = false) => [{ id: 'win10', currentVersion, moveNow, versions: [v(1), v(2, 1), v(3, 2)], ...meta }]

  it("runs seats on their profile's current version, a profile with no versions on its disk as v1", () => {
    const { vms } = desiredVms(model({ versions: versions(3, true) }), host)
    const a1 = vms.find((x) => x.id === 'a-1')!
    expect(a1).toMatchObject({ version: 3, moveNow: true, images: ['/srv/labvirt/images/win10.v3.qcow2'] })
    expect(a1.argv.join(' ')).toContain('file=/srv/labvirt/images/win10.v3.qcow2,format=qcow2,snapshot=on')
    const onV1 = desiredVms(model(), host).vms.find((x) => x.id === 'a-1')!
    expect([1, 3].map((n) => a1.hashOn!(n))).toEqual([onV1.hash, a1.hash])
    expect(new Set([1, 2, 3].map((n) => a1.hashOn!(n))).size).toBe(3)
    expect(a1.hashOn!(9), 'no such version').toBeUndefined()
    expect(vms.find((x) => x.id === 'b-1')).toMatchObject({ version: 1, images: ['/srv/labvirt/images/data.qcow2'] })
  })

  it('runs a canary seat alone on its version, moving it at once', () => {
    const vms = desiredVms(model({ versions: [{ ...versions(2)[0]!, canary: { seat: 'a-2', version: 3 } }] }), host).vms
    expect(vms.filter((x) => x.lab === 'a').map((x) => [x.id, x.version, x.moveNow])).toEqual([['a-1', 2, false], ['a-2', 3, true]])
  })

  it('runs overlay maintenance on its overlay, writable, while the seats keep running on the version', () => {
    const { vms } = desiredVms(model({ versions: versions(2), maintenance: [{ profile: 'win10', mode: 'overlay', overlay: 'win10.maint-1.qcow2', base: 2, by: 'admin', state: 'running' }] }), host)
    expect(vms.map((x) => x.id)).toEqual(['win10-maint', 'a-1', 'a-2', 'b-1'])
    const maint = vms[0]!
    expect(maint).toMatchObject({ version: 2, images: ['/srv/labvirt/images/win10.maint-1.qcow2'], spec: { snapshot: false } })
    expect(vms[1]!.images).toEqual(['/srv/labvirt/images/win10.v2.qcow2'])
    // Publishing or discarding: the maintenance VM is no longer desired.
    const publishing = desiredVms(model({ versions: versions(2), maintenance: [{ profile: 'win10', mode: 'overlay', overlay: 'x.qcow2', base: 2, by: 'admin', state: 'publishing' }] }), host)
    expect(publishing.vms.map((x) => x.id)).toEqual(['a-1', 'a-2', 'b-1'])
  })

  it('puts maintenance on the lab it was asked for', () => {
    const { vms } = desiredVms(model({ maintenance: [{ profile: 'linux', mode: 'exclusive', lab: 'b', by: 'admin' }] }), host)
    expect(vms.find((v) => v.id === 'linux-maint')).toMatchObject({ lab: 'b', spec: { nic: { mac: '52:54:00:0c:0d:00' } } })
    // b's seat runs linux's disk: it waits; a's seats run win10 on another disk and stay.
    expect(vms.map((v) => v.id).sort()).toEqual(['a-1', 'a-2', 'linux-maint'])
  })

  it('reports a lab with no active profile instead of running anything', () => {
    const m = model()
    m.labs[1] = { ...m.labs[1]!, profiles: ['old'] }
    const { vms, problems } = desiredVms(m, host)
    expect(vms.map((v) => v.id)).toEqual(['a-1', 'a-2'])
    expect(problems).toEqual([{ id: 'b', msgid: 'Lab "{lab}" allows no active profile', params: { lab: 'b' } }])
  })

  it('runs a manual VM writable with its CD-ROM at secondary master, booting from it', () => {
    const manual = [{ id: 'install', name: 'install', profile: 'win10', cdrom: 'debian.iso', boot: 'd' as const, snapshot: false, ...meta }]
    const vm = desiredVms(model({ manual }), host).vms.find((v) => v.id === 'install')!
    expect(vm.kind).toBe('manual')
    expect(vm.spec.snapshot).toBe(false)
    expect(vm.images).toEqual(['/srv/labvirt/images/win.qcow2', '/srv/labvirt/images/debian.iso'])
    const argv = vm.argv.join(' ')
    expect(argv).toContain('file=/srv/labvirt/images/debian.iso,format=raw,readonly=on')
    expect(argv).toContain('ide-cd,bus=ide.1,unit=0')
    expect(argv).toContain('-boot d')
  })

  it('reports a VM whose command line cannot be built (a run dir too long for the QMP socket)', () => {
    const { vms, problems } = desiredVms(model(), { ...host, runDir: `/${'x'.repeat(120)}` })
    expect(vms).toEqual([])
    expect(problems.map((p) => p.id)).toEqual(['a-1', 'a-2', 'b-1'])
    expect(problems[0]!.msgid).toBe('Cannot build the QEMU command line: {error}')
  })

  it('forwards host port hostPort + n - 1 to each user-mode seat on the forward address, none for maintenance', () => {
    const m = model({ maintenance: [{ profile: 'linux', mode: 'exclusive', lab: 'a', by: 'admin' }] })
    m.labs[0] = { ...m.labs[0]!, network: { mode: 'user', hostPort: 20010, port: 5900 } }
    const { vms } = desiredVms(m, { ...host, forwardAddress: '127.0.0.1' })
    expect(vms.find((v) => v.id === 'a-2')!.spec.nic!.netdev).toEqual({ mode: 'user', hostfwd: [{ hostAddress: '127.0.0.1', hostPort: 20011, guestPort: 5900 }] })
    expect(vms.find((v) => v.id === 'a-1')!.argv).toContain('user,id=net0,hostname=a-1,hostfwd=tcp:127.0.0.1:20010-:5900')
    expect(vms.find((v) => v.id === 'linux-maint')!.spec.nic!.netdev).toEqual({ mode: 'user' })
    // Without a forward address every host address listens; the seat port defaults to RDP's.
    m.labs[0] = { ...m.labs[0]!, network: { mode: 'user', hostPort: 20010 } }
    expect(desiredVms(m, host).vms.find((v) => v.id === 'a-1')!.argv).toContain('user,id=net0,hostname=a-1,hostfwd=tcp::20010-:3389')
  })

  it('puts tap-mode seats on the tap named after their MAC, unique across labs', () => {
    const m = model({ maintenance: [{ profile: 'linux', mode: 'exclusive', lab: 'a', by: 'admin' }] })
    m.labs[0] = { ...m.labs[0]!, network: { mode: 'tap', bridge: 'br7' } }
    m.labs[1] = { ...m.labs[1]!, size: 2, max: 2, profiles: ['win10'], macBase: '52:54:00:0a:0c:00', network: { mode: 'tap' } }
    const nets = Object.fromEntries(desiredVms(m, host).vms.map((v) => [v.id, v.spec.nic!.netdev]))
    expect(nets).toEqual({
      'linux-maint': { mode: 'tap', ifname: 'lv5254000a0b00' },
      'a-1': { mode: 'tap', ifname: 'lv5254000a0b01' },
      'a-2': { mode: 'tap', ifname: 'lv5254000a0b02' },
      'b-1': { mode: 'tap', ifname: 'lv5254000a0c01' },
      'b-2': { mode: 'tap', ifname: 'lv5254000a0c02' },
    })
  })
})
