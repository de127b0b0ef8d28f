import { describe, expect, it } from 'vitest'
import { buildQemuArgs, OVMF_CODE, QemuSpecError, SANDBOX, type VmDisk, type VmSpec } from '#server/qemu/args'

const RUN = '/run/labvirt'
const base: VmSpec = {
  name: 'lab1-1',
  uuid: '6f1c0f1e-8f5a-4d43-9a55-0c2b8e7f0001',
  memoryMiB: 512,
  cpus: 2,
  accel: 'tcg',
  disks: [],
  snapshot: false,
  nic: null,
  runDir: RUN,
  extraArgs: [],
}
const spec = (over: Partial<VmSpec>): VmSpec => ({ ...base, ...over })

// The fixed start and end of every argv; each case spells out everything in between.
const HEAD = ['-name', 'lab1-1', '-uuid', '6f1c0f1e-8f5a-4d43-9a55-0c2b8e7f0001', '-machine', 'pc', '-m', '512', '-smp', '2', '-accel', 'tcg', '-nodefaults', '-vga', 'std']
const tail = (boot = 'c') => [
  '-boot', boot,
  '-qmp', 'unix:/run/labvirt/lab1-1.qmp,server=on,wait=off',
  '-qmp', 'unix:/run/labvirt/lab1-1.tool.qmp,server=on,wait=off',
  '-vnc', 'unix:/run/labvirt/lab1-1.vnc',
  '-pidfile', '/run/labvirt/lab1-1.pid',
  '-D', '/run/labvirt/lab1-1.log',
  '-sandbox', SANDBOX,
  '-daemonize',
]

const hd = (path: string, extra: Partial<VmDisk> = {}): VmDisk => ({ path, bus: 'ide', media: 'disk', ...extra })
const cd = (path: string, extra: Partial<VmDisk> = {}): VmDisk => ({ path, bus: 'ide', media: 'cdrom', ...extra })
const ideHd = (slot: number, file: string, mode = '') => [
  '-drive', `if=none,id=drive-ide${slot},file=${file},format=qcow2${mode}`,
  '-device', `ide-hd,bus=ide.${slot >> 1},unit=${slot & 1},drive=drive-ide${slot},id=ide${slot}`,
]
const ideCd = (slot: number, file: string) => [
  '-drive', `if=none,id=drive-ide${slot},file=${file},format=raw,readonly=on`,
  '-device', `ide-cd,bus=ide.${slot >> 1},unit=${slot & 1},drive=drive-ide${slot},id=ide${slot}`,
]

interface Case {
  name: string
  spec: VmSpec
  argv: string[]
}

const cases: Case[] = [
  { name: 'no disk, no NIC', spec: base, argv: [...HEAD, ...tail()] },
  {
    name: '1 IDE disk: primary master',
    spec: spec({ disks: [hd('/img/a.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...tail()],
  },
  {
    name: '2 IDE disks: primary master, primary slave',
    spec: spec({ disks: [hd('/img/a.qcow2'), hd('/img/b.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideHd(1, '/img/b.qcow2'), ...tail()],
  },
  {
    name: '3 IDE disks: then secondary master',
    spec: spec({ disks: [hd('/img/a.qcow2'), hd('/img/b.qcow2'), hd('/img/c.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideHd(1, '/img/b.qcow2'), ...ideHd(2, '/img/c.qcow2'), ...tail()],
  },
  {
    name: '4 IDE disks: all four slots',
    spec: spec({ disks: [hd('/img/a.qcow2'), hd('/img/b.qcow2'), hd('/img/c.qcow2'), hd('/img/d.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideHd(1, '/img/b.qcow2'), ...ideHd(2, '/img/c.qcow2'), ...ideHd(3, '/img/d.qcow2'), ...tail()],
  },
  {
    name: 'CD-ROM alone: secondary master',
    spec: spec({ disks: [cd('/iso/install.iso')] }),
    argv: [...HEAD, ...ideCd(2, '/iso/install.iso'), ...tail()],
  },
  {
    name: 'disk + CD-ROM: CD-ROM keeps secondary master',
    spec: spec({ disks: [hd('/img/a.qcow2'), cd('/iso/install.iso')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideCd(2, '/iso/install.iso'), ...tail()],
  },
  {
    name: 'CD-ROM listed first still goes to secondary master, disks fill from primary master',
    spec: spec({ disks: [cd('/iso/install.iso'), hd('/img/a.qcow2'), hd('/img/b.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideHd(1, '/img/b.qcow2'), ...ideCd(2, '/iso/install.iso'), ...tail()],
  },
  {
    name: '3 disks + CD-ROM (4 IDE devices): disks skip secondary master',
    spec: spec({ disks: [hd('/img/a.qcow2'), hd('/img/b.qcow2'), hd('/img/c.qcow2'), cd('/iso/install.iso')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideHd(1, '/img/b.qcow2'), ...ideCd(2, '/iso/install.iso'), ...ideHd(3, '/img/c.qcow2'), ...tail()],
  },
  {
    name: 'CD-ROM placed at primary slave',
    spec: spec({ disks: [hd('/img/a.qcow2'), cd('/iso/install.iso', { slot: 1 }), hd('/img/b.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...ideCd(1, '/iso/install.iso'), ...ideHd(2, '/img/b.qcow2'), ...tail()],
  },
  {
    name: 'disk placed at secondary master pushes the CD-ROM to the next free slot',
    spec: spec({ disks: [hd('/img/a.qcow2', { slot: 2 }), cd('/iso/install.iso')] }),
    argv: [...HEAD, ...ideCd(0, '/iso/install.iso'), ...ideHd(2, '/img/a.qcow2'), ...tail()],
  },
  {
    name: 'virtio and scsi disks after IDE, one SCSI controller',
    spec: spec({
      disks: [
        { path: '/img/v0.qcow2', bus: 'virtio', media: 'disk' },
        { path: '/img/s0.qcow2', bus: 'scsi', media: 'disk' },
        hd('/img/a.qcow2'),
        { path: '/img/s1.qcow2', bus: 'scsi', media: 'disk' },
        { path: '/img/v1.qcow2', bus: 'virtio', media: 'disk' },
      ],
    }),
    argv: [
      ...HEAD,
      ...ideHd(0, '/img/a.qcow2'),
      '-drive', 'if=none,id=drive-virtio0,file=/img/v0.qcow2,format=qcow2',
      '-device', 'virtio-blk-pci,drive=drive-virtio0,id=virtio0',
      '-device', 'virtio-scsi-pci,id=scsi0',
      '-drive', 'if=none,id=drive-scsi0,file=/img/s0.qcow2,format=qcow2',
      '-device', 'scsi-hd,bus=scsi0.0,scsi-id=0,drive=drive-scsi0,id=scsi0-0',
      '-drive', 'if=none,id=drive-scsi1,file=/img/s1.qcow2,format=qcow2',
      '-device', 'scsi-hd,bus=scsi0.0,scsi-id=1,drive=drive-scsi1,id=scsi0-1',
      '-drive', 'if=none,id=drive-virtio1,file=/img/v1.qcow2,format=qcow2',
      '-device', 'virtio-blk-pci,drive=drive-virtio1,id=virtio1',
      ...tail(),
    ],
  },
  {
    name: 'snapshot: every disk snapshot=on, the CD-ROM read-only',
    spec: spec({
      snapshot: true,
      disks: [hd('/img/a.qcow2'), hd('/img/b.qcow2'), cd('/iso/tools.iso'), { path: '/img/v.qcow2', bus: 'virtio', media: 'disk' }, { path: '/img/s.qcow2', bus: 'scsi', media: 'disk' }],
    }),
    argv: [
      ...HEAD,
      ...ideHd(0, '/img/a.qcow2', ',snapshot=on'),
      ...ideHd(1, '/img/b.qcow2', ',snapshot=on'),
      ...ideCd(2, '/iso/tools.iso'),
      '-drive', 'if=none,id=drive-virtio0,file=/img/v.qcow2,format=qcow2,snapshot=on',
      '-device', 'virtio-blk-pci,drive=drive-virtio0,id=virtio0',
      '-device', 'virtio-scsi-pci,id=scsi0',
      '-drive', 'if=none,id=drive-scsi0,file=/img/s.qcow2,format=qcow2,snapshot=on',
      '-device', 'scsi-hd,bus=scsi0.0,scsi-id=0,drive=drive-scsi0,id=scsi0-0',
      ...tail(),
    ],
  },
  {
    name: 'maintenance (no snapshot): disks writable',
    spec: spec({ snapshot: false, disks: [hd('/img/a.qcow2')] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...tail()],
  },
  {
    name: 'explicit raw format',
    spec: spec({ disks: [hd('/img/a.raw', { format: 'raw' })] }),
    argv: [...HEAD, '-drive', 'if=none,id=drive-ide0,file=/img/a.raw,format=raw', '-device', 'ide-hd,bus=ide.0,unit=0,drive=drive-ide0,id=ide0', ...tail()],
  },
  {
    name: 'NIC virtio, user network without forwards',
    spec: spec({ nic: { model: 'virtio', mac: '52:54:00:0a:00:01', netdev: { mode: 'user' } } }),
    argv: [...HEAD, '-netdev', 'user,id=net0,hostname=lab1-1', '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:0a:00:01,id=nic0', ...tail()],
  },
  {
    name: 'NIC e1000, user network with host forwards; MAC lowercased',
    spec: spec({
      nic: { model: 'e1000', mac: '52:54:00:0A:00:02', netdev: { mode: 'user', hostfwd: [{ hostPort: 13389, guestPort: 3389 }, { hostPort: 15900, guestPort: 5900 }] } },
    }),
    argv: [
      ...HEAD,
      '-netdev', 'user,id=net0,hostname=lab1-1,hostfwd=tcp::13389-:3389,hostfwd=tcp::15900-:5900',
      '-device', 'e1000,netdev=net0,mac=52:54:00:0a:00:02,id=nic0',
      ...tail(),
    ],
  },
  {
    name: 'user network forward listening on one host address',
    spec: spec({ nic: { model: 'virtio', mac: '52:54:00:0a:00:05', netdev: { mode: 'user', hostfwd: [{ hostAddress: '127.0.0.1', hostPort: 20003, guestPort: 3389 }] } } }),
    argv: [...HEAD, '-netdev', 'user,id=net0,hostname=lab1-1,hostfwd=tcp:127.0.0.1:20003-:3389', '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:0a:00:05,id=nic0', ...tail()],
  },
  {
    name: 'NIC rtl8139 on a bridge',
    spec: spec({ nic: { model: 'rtl8139', mac: '52:54:00:0a:00:03', netdev: { mode: 'bridge', bridge: 'br-lab1' } } }),
    argv: [...HEAD, '-netdev', 'bridge,id=net0,br=br-lab1', '-device', 'rtl8139,netdev=net0,mac=52:54:00:0a:00:03,id=nic0', ...tail()],
  },
  {
    name: 'NIC virtio on a persistent tap, before the disks',
    spec: spec({ disks: [hd('/img/a.qcow2')], nic: { model: 'virtio', mac: '52:54:00:0a:00:04', netdev: { mode: 'tap', ifname: 'lv-lab1-1' } } }),
    argv: [
      ...HEAD,
      '-netdev', 'tap,id=net0,ifname=lv-lab1-1,script=no,downscript=no',
      '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:0a:00:04,id=nic0',
      ...ideHd(0, '/img/a.qcow2'),
      ...tail(),
    ],
  },
  {
    name: 'commas escaped in disk paths and the run dir, but not in -pidfile',
    spec: spec({ runDir: '/run/lab,virt', disks: [hd('/img/a,b.qcow2'), cd('/iso/x,,y.iso')] }),
    argv: [
      ...HEAD,
      ...ideHd(0, '/img/a,,b.qcow2'),
      ...ideCd(2, '/iso/x,,,,y.iso'),
      '-boot', 'c',
      '-qmp', 'unix:/run/lab,,virt/lab1-1.qmp,server=on,wait=off',
      '-qmp', 'unix:/run/lab,,virt/lab1-1.tool.qmp,server=on,wait=off',
      '-vnc', 'unix:/run/lab,,virt/lab1-1.vnc',
      '-pidfile', '/run/lab,virt/lab1-1.pid',
      '-D', '/run/lab,virt/lab1-1.log',
      '-sandbox', SANDBOX,
      '-daemonize',
    ],
  },
  {
    name: 'extra args appended last, in order',
    spec: spec({ disks: [hd('/img/a.qcow2')], extraArgs: ['-usb', '-device', 'virtio-rng-pci', '-k', 'es', '-no-hpet'] }),
    argv: [...HEAD, ...ideHd(0, '/img/a.qcow2'), ...tail(), '-usb', '-device', 'virtio-rng-pci', '-k', 'es', '-no-hpet'],
  },
  {
    name: 'every hardware field: q35, CPU model, UEFI, local RTC, SMBIOS (commas escaped), tablet, HDA, qxl',
    spec: spec({
      disks: [hd('/img/a.qcow2')], machine: 'q35', cpuModel: 'Skylake-Client', firmware: 'uefi', rtcLocalTime: true, usbTablet: true, sound: 'hda', display: 'qxl',
      smbios: { manufacturer: 'ACME, Inc.', product: 'Lab PC', serial: 'x,file=/etc/passwd' },
    }),
    argv: [
      '-name', 'lab1-1', '-uuid', '6f1c0f1e-8f5a-4d43-9a55-0c2b8e7f0001', '-machine', 'q35', '-cpu', 'Skylake-Client', '-m', '512', '-smp', '2', '-accel', 'tcg', '-nodefaults', '-vga', 'qxl',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
      '-drive', 'if=pflash,format=raw,file=/run/labvirt/lab1-1.vars.fd',
      '-rtc', 'base=localtime',
      '-smbios', 'type=1,manufacturer=ACME,, Inc.,product=Lab PC,serial=x,,file=/etc/passwd',
      ...ideHd(0, '/img/a.qcow2'),
      '-usb', '-device', 'usb-tablet',
      '-audiodev', 'none,id=snd0', '-device', 'intel-hda', '-device', 'hda-duplex,audiodev=snd0',
      ...tail(),
    ],
  },
  {
    name: 'the defaults spelled out change nothing; AC97 sound, virtio display',
    spec: spec({ machine: 'pc', cpuModel: null, firmware: 'bios', rtcLocalTime: false, usbTablet: false, sound: 'ac97', display: 'virtio', smbios: {} }),
    argv: [...HEAD.slice(0, -1), 'virtio', '-audiodev', 'none,id=snd0', '-device', 'AC97,audiodev=snd0', ...tail()],
  },
  {
    name: 'run as an unprivileged user',
    spec: spec({ runAs: 'labvirt' }),
    argv: [...HEAD, ...tail().slice(0, -1), '-runas', 'labvirt', '-daemonize'],
  },
  {
    name: 'boot d: CD-ROM install',
    spec: spec({ boot: 'd', disks: [hd('/img/new.qcow2'), cd('/iso/install.iso')] }),
    argv: [...HEAD, ...ideHd(0, '/img/new.qcow2'), ...ideCd(2, '/iso/install.iso'), ...tail('d')],
  },
  {
    name: 'kvm, maintenance name, uppercase UUID normalised',
    spec: spec({ name: 'win10-maint', uuid: '6F1C0F1E-8F5A-4D43-9A55-0C2B8E7F0002', accel: 'kvm', memoryMiB: 4096, cpus: 4 }),
    argv: [
      '-name', 'win10-maint', '-uuid', '6f1c0f1e-8f5a-4d43-9a55-0c2b8e7f0002', '-machine', 'pc', '-m', '4096', '-smp', '4', '-accel', 'kvm', '-nodefaults', '-vga', 'std',
      '-boot', 'c',
      '-qmp', 'unix:/run/labvirt/win10-maint.qmp,server=on,wait=off',
      '-qmp', 'unix:/run/labvirt/win10-maint.tool.qmp,server=on,wait=off',
      '-vnc', 'unix:/run/labvirt/win10-maint.vnc',
      '-pidfile', '/run/labvirt/win10-maint.pid',
      '-D', '/run/labvirt/win10-maint.log',
      '-sandbox', SANDBOX,
      '-daemonize',
    ],
  },
]

describe('buildQemuArgs', () => {
  it.each(cases)('$name', ({ spec, argv }) => {
    expect(buildQemuArgs(spec)).toEqual(argv)
    // Deterministic: the same spec renders the same argv again.
    expect(buildQemuArgs(structuredClone(spec))).toEqual(argv)
  })
})

interface BadCase {
  name: string
  spec: VmSpec
  fields: string[]
}

const nic = (over: object) => ({ model: 'virtio', mac: '52:54:00:0a:00:01', netdev: { mode: 'user' }, ...over }) as VmSpec['nic']
const bad: BadCase[] = [
  { name: '5 IDE disks', spec: spec({ disks: ['a', 'b', 'c', 'd', 'e'].map((x) => hd(`/img/${x}.qcow2`)) }), fields: ['disks'] },
  { name: '4 IDE disks + CD-ROM', spec: spec({ disks: [...['a', 'b', 'c', 'd'].map((x) => hd(`/img/${x}.qcow2`)), cd('/iso/x.iso')] }), fields: ['disks'] },
  { name: 'two devices in one slot', spec: spec({ disks: [hd('/img/a.qcow2', { slot: 2 }), cd('/iso/x.iso', { slot: 2 })] }), fields: ['disks[1].slot'] },
  { name: 'slot out of range', spec: spec({ disks: [hd('/img/a.qcow2', { slot: 4 as 0 })] }), fields: ['disks[0].slot'] },
  { name: 'slot on a virtio disk', spec: spec({ disks: [{ path: '/img/a.qcow2', bus: 'virtio', media: 'disk', slot: 0 }] }), fields: ['disks[0].slot'] },
  { name: 'CD-ROM on scsi', spec: spec({ disks: [{ path: '/iso/x.iso', bus: 'scsi', media: 'cdrom' }] }), fields: ['disks[0].media'] },
  { name: 'relative disk path', spec: spec({ disks: [hd('img/a.qcow2')] }), fields: ['disks[0].path'] },
  { name: 'protocol-looking disk path', spec: spec({ disks: [hd('nbd:evil:10809')] }), fields: ['disks[0].path'] },
  { name: 'newline in a disk path', spec: spec({ disks: [hd('/img/a\n.qcow2')] }), fields: ['disks[0].path'] },
  { name: 'relative run dir', spec: spec({ runDir: 'run' }), fields: ['runDir'] },
  { name: 'socket path too long', spec: spec({ runDir: `/${'x'.repeat(100)}` }), fields: ['runDir'] },
  // `/x{92}/lab1-1.qmp` is 104 bytes and fits; `/x{92}/lab1-1.tool.qmp` is 109 and does not.
  { name: 'tool QMP socket path too long', spec: spec({ runDir: `/${'x'.repeat(92)}` }), fields: ['runDir'] },
  { name: 'name with a comma', spec: spec({ name: 'lab1,debug-threads=on' }), fields: ['name'] },
  { name: 'name with uppercase', spec: spec({ name: 'Lab1' }), fields: ['name'] },
  { name: 'name with path', spec: spec({ name: '../x' }), fields: ['name'] },
  { name: 'bad UUID', spec: spec({ uuid: 'nope' }), fields: ['uuid'] },
  { name: 'memory not a whole number', spec: spec({ memoryMiB: 1.5 }), fields: ['memoryMiB'] },
  { name: 'zero CPUs', spec: spec({ cpus: 0 }), fields: ['cpus'] },
  { name: 'bad accel', spec: spec({ accel: 'hvf' as 'kvm' }), fields: ['accel'] },
  { name: 'bad MAC', spec: spec({ nic: nic({ mac: '52:54:00:0a:00' }) }), fields: ['nic.mac'] },
  { name: 'multicast MAC', spec: spec({ nic: nic({ mac: '01:00:5e:00:00:01' }) }), fields: ['nic.mac'] },
  { name: 'MAC with an option smuggled in', spec: spec({ nic: nic({ mac: '52:54:00:0a:00:01,romfile=/etc/shadow' }) }), fields: ['nic.mac'] },
  { name: 'bad NIC model', spec: spec({ nic: nic({ model: 'ne2k_pci' }) }), fields: ['nic.model'] },
  { name: 'bridge name with a comma', spec: spec({ nic: nic({ netdev: { mode: 'bridge', bridge: 'br0,helper=/bin/sh' } }) }), fields: ['nic.netdev.bridge'] },
  { name: 'tap name too long', spec: spec({ nic: nic({ netdev: { mode: 'tap', ifname: 'a'.repeat(16) } }) }), fields: ['nic.netdev.ifname'] },
  { name: 'bad network mode', spec: spec({ nic: nic({ netdev: { mode: 'vde' } }) }), fields: ['nic.netdev.mode'] },
  { name: 'bad port', spec: spec({ nic: nic({ netdev: { mode: 'user', hostfwd: [{ hostPort: 0, guestPort: 70000 }] } }) }), fields: ['nic.netdev.hostfwd[0].hostPort', 'nic.netdev.hostfwd[0].guestPort'] },
  { name: 'forward address not an IPv4 literal', spec: spec({ nic: nic({ netdev: { mode: 'user', hostfwd: [{ hostAddress: '0.0.0.0:1-:22,hostfwd=tcp:', hostPort: 20000, guestPort: 3389 }] } }) }), fields: ['nic.netdev.hostfwd[0].hostAddress'] },
  { name: 'an option outside the allowlist, and its value', spec: spec({ extraArgs: ['-usb', '-drive', 'file=/etc/shadow'] }), fields: ['extraArgs[1]', 'extraArgs[2]'] },
  { name: 'an allowed option spelled with --', spec: spec({ extraArgs: ['--usb'] }), fields: ['extraArgs[0]'] },
  { name: 'a device with a property', spec: spec({ extraArgs: ['-device', 'usb-tablet,bus=usb-bus.0'] }), fields: ['extraArgs[1]'] },
  { name: 'a device outside the allowlist', spec: spec({ extraArgs: ['-device', 'loader,file=README.md'] }), fields: ['extraArgs[1]'] },
  { name: 'an option without its value', spec: spec({ extraArgs: ['-usb', '-k'] }), fields: ['extraArgs[1]'] },
  { name: 'a bare word (a disk image to QEMU)', spec: spec({ extraArgs: ['fat:rw:..'] }), fields: ['extraArgs[0]'] },
  { name: 'CPU model with flags', spec: spec({ cpuModel: 'max,+vmx' }), fields: ['cpuModel'] },
  { name: 'bad machine, sound, display, firmware', spec: spec({ machine: 'isapc' as 'pc', sound: 'wav' as 'hda', display: 'cirrus' as 'std', firmware: 'coreboot' as 'bios' }), fields: ['machine', 'sound', 'display', 'firmware'] },
  { name: 'SMBIOS: an unknown key, a control character', spec: spec({ smbios: { file: '/etc/passwd', serial: 'a\nb' } as VmSpec['smbios'] }), fields: ['smbios.file', 'smbios.serial'] },
  { name: 'runAs not a user name', spec: spec({ runAs: 'nobody,chroot=/' }), fields: ['runAs'] },
  { name: 'control character in an extra arg', spec: spec({ extraArgs: ['-usb\n'] }), fields: ['extraArgs[0]'] },
  { name: 'boot d without a CD-ROM', spec: spec({ boot: 'd', disks: [hd('/img/a.qcow2')] }), fields: ['boot'] },
]

describe('buildQemuArgs refuses a bad spec', () => {
  it.each(bad)('$name', ({ spec, fields }) => {
    let error: unknown
    try {
      buildQemuArgs(spec)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(QemuSpecError)
    expect((error as QemuSpecError).issues.map((i) => i.field)).toEqual(fields)
  })

  it('accepts seat and maintenance names longer than a Name', () => {
    expect(buildQemuArgs(spec({ name: 'a2345678901234567890123x-12' }))[1]).toBe('a2345678901234567890123x-12')
    expect(() => buildQemuArgs(spec({ name: 'a2345678901234567890123xy' }))).toThrow(QemuSpecError)
  })
})
