import { isAbsolute } from 'node:path'
import * as v from 'valibot'
import { IFNAME_PATTERN, IPV4_PATTERN, Mac, NAME_PATTERN } from '#schemas/common'
import { extraArgIssues } from '#schemas/extra-args'
import { CPU_MODEL_PATTERN, DISK_BUSES, DISK_MEDIA, DISPLAYS, FIRMWARES, MACHINES, NIC_MODELS, SMBIOS_FIELDS, SMBIOS_PATTERN, SOUND_DEVICES } from '#schemas/profiles'
import { type IdeSlot, placeIde } from '#schemas/ide'
import { UNIX_PATH_MAX, vmPaths } from './paths'

export type Accel = 'kvm' | 'tcg'
export type DiskBus = (typeof DISK_BUSES)[number]
export type DiskMedia = (typeof DISK_MEDIA)[number]
export type NicModel = (typeof NIC_MODELS)[number]
export type Machine = (typeof MACHINES)[number]
export type SoundDevice = (typeof SOUND_DEVICES)[number]
export type Display = (typeof DISPLAYS)[number]
export type SmbiosField = (typeof SMBIOS_FIELDS)[number]

export interface VmDisk {
  /** Absolute path of the image (qcow2) or ISO. */
  path: string
  bus: DiskBus
  media: DiskMedia
  /** IDE only; unplaced IDE devices fill the free slots in order. */
  slot?: IdeSlot
  /** Defaults: qcow2 for a disk (every LabVirt image is), raw for a CD-ROM (an ISO). */
  format?: 'qcow2' | 'raw'
}

export interface HostForward {
  /** The host address to listen on (an IPv4 literal); every address when unset. */
  hostAddress?: string
  hostPort: number
  guestPort: number
}

export type VmNetdev =
  | { mode: 'user'; hostfwd?: HostForward[] }
  | { mode: 'bridge'; bridge: string }
  | { mode: 'tap'; ifname: string }

export interface VmNic {
  model: NicModel
  mac: string
  netdev: VmNetdev
}

export interface VmSpec {
  name: string
  uuid: string
  memoryMiB: number
  cpus: number
  accel: Accel
  disks: VmDisk[]
  /** Seats: every disk opens with snapshot=on, so guest writes vanish when QEMU exits. */
  snapshot: boolean
  nic: VmNic | null
  /** Where the pidfile and the QMP and VNC sockets live. */
  runDir: string
  /** `c` (default) boots the first hard disk, `d` the CD-ROM (installing an OS). */
  boot?: 'c' | 'd'
  /** pc (the default) or q35. */
  machine?: Machine
  /** `-cpu`; QEMU's default model when unset. */
  cpuModel?: string | null
  /** `-rtc base=localtime`, for Windows. */
  rtcLocalTime?: boolean
  /** A USB tablet: an absolute pointer, so the VNC pointer follows the mouse. */
  usbTablet?: boolean
  /** none (the default), hda or ac97; the sound goes nowhere (`-audiodev none`). */
  sound?: SoundDevice
  /** The display adapter (`-vga`); std by default. */
  display?: Display
  /** SMBIOS type 1 strings. */
  smbios?: Partial<Record<SmbiosField, string>>
  /** UEFI boots OVMF with the VM's own variables file (`vmPaths(...).uefiVars`, made by `prepareFirmware`). */
  firmware?: (typeof FIRMWARES)[number]
  /** Run as this user once started (`-runas`); unset keeps the user LabVirt runs as. */
  runAs?: string
  /** The profile's extra args (an allowlist: schemas/extra-args.ts), appended last. */
  extraArgs: string[]
}

export interface SpecIssue {
  field: string
  message: string
}

/** A VM spec QEMU must not see. Callers validate user input earlier; this is the last line. */
export class QemuSpecError extends Error {
  readonly code = 'invalid_vm_spec'
  constructor(public readonly issues: SpecIssue[]) {
    super(`Invalid VM spec: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`)
    this.name = 'QemuSpecError'
  }
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/
const NIC_DEVICES: Record<NicModel, string> = { virtio: 'virtio-net-pci', e1000: 'e1000', rtl8139: 'rtl8139' }
const SOUND_ARGS: Record<SoundDevice, string[]> = {
  none: [],
  hda: ['-device', 'intel-hda', '-device', 'hda-duplex,audiodev=snd0'],
  ac97: ['-device', 'AC97,audiodev=snd0'],
}
const USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/
/** Debian's `ovmf` package: the firmware, read-only, and the variables every VM starts its own copy from. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd'
/**
 * The strictest -sandbox that -daemonize survives (QEMU-FACTS, measured on 7.2): daemonizing forks
 * (spawn=deny kills it) and elevateprivileges=deny makes it exit at start, so those two stay
 * allowed; -runas then drops root.
 */
export const SANDBOX = 'on,obsolete=deny,resourcecontrol=deny'

/**
 * A VM name: a Name, or one with the suffix LabVirt appends for a seat (`-<n>`) or a maintenance
 * VM (`-maint`), which can take it past the 24 characters a Name allows.
 */
export function isVmName(name: string): boolean {
  if (NAME_PATTERN.test(name)) return true
  const m = /^(.+)-(\d{1,4}|maint)$/.exec(name)
  return !!m && NAME_PATTERN.test(m[1]!)
}

/** QEMU option values are comma-separated `key=value` lists: a literal comma is written twice. */
export const escapeOptionValue = (value: string) => value.replaceAll(',', ',,')

const isInt = (n: unknown, min: number, max: number) => typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max

function checkPath(path: unknown, field: string, issues: SpecIssue[]) {
  if (typeof path !== 'string' || !isAbsolute(path)) issues.push({ field, message: 'must be an absolute path' })
  else if (CONTROL_CHARS.test(path)) issues.push({ field, message: 'must not contain control characters' })
  else if (path.length > 4096) issues.push({ field, message: 'is too long' })
}

interface Placed {
  disk: VmDisk
  index: number
}

/** Validates the spec and assigns IDE slots: explicit slots, then the first CD-ROM at secondary master, then the rest in order. */
function validate(spec: VmSpec): { ide: (Placed | undefined)[]; others: Placed[]; mac?: string } {
  const issues: SpecIssue[] = []
  if (typeof spec.name !== 'string' || !isVmName(spec.name)) issues.push({ field: 'name', message: 'must be a LabVirt name (lowercase letters, digits, inner hyphens)' })
  if (typeof spec.uuid !== 'string' || !UUID_PATTERN.test(spec.uuid)) issues.push({ field: 'uuid', message: 'must be a UUID' })
  if (!isInt(spec.memoryMiB, 16, 1024 * 1024)) issues.push({ field: 'memoryMiB', message: 'must be a whole number from 16 to 1048576' })
  if (!isInt(spec.cpus, 1, 256)) issues.push({ field: 'cpus', message: 'must be a whole number from 1 to 256' })
  if (spec.accel !== 'kvm' && spec.accel !== 'tcg') issues.push({ field: 'accel', message: 'must be kvm or tcg' })
  if (spec.boot !== undefined && spec.boot !== 'c' && spec.boot !== 'd') issues.push({ field: 'boot', message: 'must be c or d' })
  checkPath(spec.runDir, 'runDir', issues)
  if (typeof spec.runDir === 'string' && typeof spec.name === 'string') {
    // QEMU cannot bind a longer unix socket path; say so here rather than in a failed start.
    // The tool socket's is the longest of the VM's socket paths.
    if (Buffer.byteLength(vmPaths(spec.runDir, spec.name).toolQmp) > UNIX_PATH_MAX) {
      issues.push({ field: 'runDir', message: `makes the QMP socket path longer than ${UNIX_PATH_MAX} bytes` })
    }
  }

  const others: Placed[] = []
  const disks = Array.isArray(spec.disks) ? spec.disks : []
  if (!Array.isArray(spec.disks)) issues.push({ field: 'disks', message: 'must be a list' })
  disks.forEach((disk, index) => {
    const field = `disks[${index}]`
    checkPath(disk.path, `${field}.path`, issues)
    if (!(DISK_BUSES as readonly string[]).includes(disk.bus)) issues.push({ field: `${field}.bus`, message: `must be one of ${DISK_BUSES.join(', ')}` })
    if (!(DISK_MEDIA as readonly string[]).includes(disk.media)) issues.push({ field: `${field}.media`, message: `must be one of ${DISK_MEDIA.join(', ')}` })
    if (disk.format !== undefined && disk.format !== 'qcow2' && disk.format !== 'raw') issues.push({ field: `${field}.format`, message: 'must be qcow2 or raw' })
    if (disk.bus !== 'ide') {
      if (disk.media === 'cdrom') issues.push({ field: `${field}.media`, message: 'a CD-ROM must be on the IDE bus' })
      if (disk.slot !== undefined) issues.push({ field: `${field}.slot`, message: 'only IDE devices have a slot' })
      others.push({ disk, index })
    } else if (disk.slot !== undefined && !isInt(disk.slot, 0, 3)) issues.push({ field: `${field}.slot`, message: 'must be 0, 1, 2 or 3' })
  })
  const ide: (Placed | undefined)[] = [undefined, undefined, undefined, undefined]
  const ideCount = disks.filter((d) => d.bus === 'ide').length
  if (ideCount > 4) issues.push({ field: 'disks', message: `at most 4 IDE disks and CD-ROMs, got ${ideCount}` })
  else {
    const placed = placeIde(disks)
    for (const { index, by } of placed.taken) issues.push({ field: `disks[${index}].slot`, message: `IDE slot ${disks[index]!.slot} is already taken by disks[${by}]` })
    for (const index of placed.left) issues.push({ field: `disks[${index}]`, message: 'no IDE slot is left' })
    placed.slots.forEach((index, slot) => {
      if (index !== undefined) ide[slot] = { disk: disks[index]!, index }
    })
  }
  if (spec.boot === 'd' && !disks.some((d) => d.media === 'cdrom')) issues.push({ field: 'boot', message: 'booting from CD-ROM needs a CD-ROM' })

  let mac: string | undefined
  if (spec.nic !== null) {
    const nic = spec.nic
    if (!nic || typeof nic !== 'object') issues.push({ field: 'nic', message: 'must be a NIC or null' })
    else {
      if (!(NIC_MODELS as readonly string[]).includes(nic.model)) issues.push({ field: 'nic.model', message: `must be one of ${NIC_MODELS.join(', ')}` })
      const parsed = v.safeParse(Mac, nic.mac)
      if (parsed.success) mac = parsed.output
      else issues.push({ field: 'nic.mac', message: 'must be a unicast MAC address like 52:54:00:12:34:56' })
      checkNetdev(nic.netdev, issues)
    }
  }

  checkOneOf(spec.machine, MACHINES, 'machine', issues)
  checkOneOf(spec.sound, SOUND_DEVICES, 'sound', issues)
  checkOneOf(spec.display, DISPLAYS, 'display', issues)
  checkOneOf(spec.firmware, FIRMWARES, 'firmware', issues)
  if (spec.cpuModel != null && !(typeof spec.cpuModel === 'string' && CPU_MODEL_PATTERN.test(spec.cpuModel))) issues.push({ field: 'cpuModel', message: 'must be a CPU model name without commas' })
  if (spec.runAs !== undefined && !(typeof spec.runAs === 'string' && USER_PATTERN.test(spec.runAs))) issues.push({ field: 'runAs', message: 'must be a user name' })
  for (const [key, value] of Object.entries(spec.smbios ?? {})) {
    if (!(SMBIOS_FIELDS as readonly string[]).includes(key)) issues.push({ field: `smbios.${key}`, message: `must be one of ${SMBIOS_FIELDS.join(', ')}` })
    else if (value !== undefined && !(typeof value === 'string' && SMBIOS_PATTERN.test(value))) issues.push({ field: `smbios.${key}`, message: 'must be 1 to 64 printable ASCII characters' })
  }
  if (!Array.isArray(spec.extraArgs)) issues.push({ field: 'extraArgs', message: 'must be a list' })
  // The same allowlist as the profile schema: a profile stored before it (or written to the store
  // directly) is refused here, never started.
  else for (const i of extraArgIssues(spec.extraArgs)) issues.push({ field: `extraArgs[${i.index}]`, message: `${JSON.stringify(spec.extraArgs[i.index])} is not allowed: ${i.message}` })

  if (issues.length) throw new QemuSpecError(issues)
  return { ide, others, mac }
}

function checkOneOf(value: unknown, allowed: readonly string[], field: string, issues: SpecIssue[]) {
  if (value !== undefined && !allowed.includes(value as string)) issues.push({ field, message: `must be one of ${allowed.join(', ')}` })
}

function checkNetdev(netdev: VmNetdev | undefined, issues: SpecIssue[]) {
  switch (netdev?.mode) {
    case 'user':
      if (netdev.hostfwd !== undefined && !Array.isArray(netdev.hostfwd)) issues.push({ field: 'nic.netdev.hostfwd', message: 'must be a list' })
      netdev.hostfwd?.forEach((f, i) => {
        if (f?.hostAddress !== undefined && !(typeof f.hostAddress === 'string' && IPV4_PATTERN.test(f.hostAddress))) issues.push({ field: `nic.netdev.hostfwd[${i}].hostAddress`, message: 'must be an IPv4 address' })
        if (!isInt(f?.hostPort, 1, 65535)) issues.push({ field: `nic.netdev.hostfwd[${i}].hostPort`, message: 'must be a port from 1 to 65535' })
        if (!isInt(f?.guestPort, 1, 65535)) issues.push({ field: `nic.netdev.hostfwd[${i}].guestPort`, message: 'must be a port from 1 to 65535' })
      })
      return
    case 'bridge':
      if (typeof netdev.bridge !== 'string' || !IFNAME_PATTERN.test(netdev.bridge)) issues.push({ field: 'nic.netdev.bridge', message: 'must be an interface name' })
      return
    case 'tap':
      if (typeof netdev.ifname !== 'string' || !IFNAME_PATTERN.test(netdev.ifname)) issues.push({ field: 'nic.netdev.ifname', message: 'must be an interface name' })
      return
    default:
      issues.push({ field: 'nic.netdev.mode', message: 'must be user, bridge or tap' })
  }
}

function driveArgs(disk: VmDisk, id: string, snapshot: boolean): string[] {
  const cdrom = disk.media === 'cdrom'
  const format = disk.format ?? (cdrom ? 'raw' : 'qcow2')
  // A CD-ROM is never written, so it needs no snapshot overlay (QEMU would make a temp file for one).
  const mode = cdrom ? ',readonly=on' : snapshot ? ',snapshot=on' : ''
  return ['-drive', `if=none,id=${id},file=${escapeOptionValue(disk.path)},format=${format}${mode}`]
}

function netdevOption(netdev: VmNetdev, name: string): string {
  switch (netdev.mode) {
    case 'user':
      // slirp's DHCP then tells the guest its name, as LabVirt's dnsmasq does on a lab network.
      return [`user,id=net0,hostname=${escapeOptionValue(name)}`, ...(netdev.hostfwd ?? []).map((f) => `hostfwd=tcp:${f.hostAddress ?? ''}:${f.hostPort}-:${f.guestPort}`)].join(',')
    case 'bridge':
      return `bridge,id=net0,br=${escapeOptionValue(netdev.bridge)}`
    case 'tap':
      // Taps are made once by root (`labvirt network setup`): QEMU must not run scripts on them.
      return `tap,id=net0,ifname=${escapeOptionValue(netdev.ifname)},script=no,downscript=no`
  }
}

/**
 * The argv (without the binary) that starts `spec` daemonized. Pure and deterministic: the same
 * spec always gives the same argv, so a running VM's cmdline can be compared with its spec.
 *
 * Device ids are stable for QMP and HMP: drives `drive-ide<slot>`, `drive-virtio<n>`,
 * `drive-scsi<n>` (n counts disks of that bus in spec order), devices without the `drive-`
 * prefix, the NIC `nic0` on netdev `net0`. Two QMP sockets: `<name>.qmp` for LabVirt's monitor and
 * `<name>.tool.qmp` for tools (QEMU serves one client per socket).
 */
export function buildQemuArgs(spec: VmSpec): string[] {
  const { ide, others, mac } = validate(spec)
  const paths = vmPaths(spec.runDir, spec.name)
  const argv = [
    '-name', spec.name,
    '-uuid', spec.uuid.toLowerCase(),
    '-machine', spec.machine ?? 'pc',
    ...(spec.cpuModel ? ['-cpu', spec.cpuModel] : []),
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.cpus),
    '-accel', spec.accel,
    '-nodefaults',
    // -nodefaults drops the VGA too; the admin console (VNC) needs one.
    '-vga', spec.display ?? 'std',
  ]
  if (spec.firmware === 'uefi') {
    argv.push('-drive', `if=pflash,format=raw,readonly=on,file=${escapeOptionValue(OVMF_CODE)}`)
    argv.push('-drive', `if=pflash,format=raw,file=${escapeOptionValue(paths.uefiVars)}`)
  }
  if (spec.rtcLocalTime) argv.push('-rtc', 'base=localtime')
  const smbios = SMBIOS_FIELDS.filter((f) => spec.smbios?.[f] !== undefined).map((f) => `,${f}=${escapeOptionValue(spec.smbios![f]!)}`)
  if (smbios.length) argv.push('-smbios', `type=1${smbios.join('')}`)
  // The NIC comes before the disks so its PCI address stays put when a profile's disks change
  // (Windows guests treat a moved NIC as a new adapter).
  if (spec.nic) {
    argv.push('-netdev', netdevOption(spec.nic.netdev, spec.name))
    argv.push('-device', `${NIC_DEVICES[spec.nic.model]},netdev=net0,mac=${mac},id=nic0`)
  }
  ide.forEach((p, slot) => {
    if (!p) return
    const kind = p.disk.media === 'cdrom' ? 'ide-cd' : 'ide-hd'
    argv.push(...driveArgs(p.disk, `drive-ide${slot}`, spec.snapshot))
    argv.push('-device', `${kind},bus=ide.${slot >> 1},unit=${slot & 1},drive=drive-ide${slot},id=ide${slot}`)
  })
  let virtio = 0
  let scsi = 0
  for (const { disk } of others) {
    if (disk.bus === 'virtio') {
      const n = virtio++
      argv.push(...driveArgs(disk, `drive-virtio${n}`, spec.snapshot))
      argv.push('-device', `virtio-blk-pci,drive=drive-virtio${n},id=virtio${n}`)
    } else {
      const n = scsi++
      if (n === 0) argv.push('-device', 'virtio-scsi-pci,id=scsi0')
      argv.push(...driveArgs(disk, `drive-scsi${n}`, spec.snapshot))
      argv.push('-device', `scsi-hd,bus=scsi0.0,scsi-id=${n},drive=drive-scsi${n},id=scsi0-${n}`)
    }
  }
  if (spec.usbTablet) argv.push('-usb', '-device', 'usb-tablet')
  if (spec.sound && spec.sound !== 'none') argv.push('-audiodev', 'none,id=snd0', ...SOUND_ARGS[spec.sound])
  argv.push(
    '-boot', spec.boot ?? 'c',
    '-qmp', `unix:${escapeOptionValue(paths.qmp)},server=on,wait=off`,
    // LabVirt's monitor holds the first socket for good; tools and admins get their own.
    '-qmp', `unix:${escapeOptionValue(paths.toolQmp)},server=on,wait=off`,
    '-vnc', `unix:${escapeOptionValue(paths.vnc)}`,
    // -pidfile takes the path as is (no option parsing), and process.ts looks for it verbatim.
    '-pidfile', paths.pidfile,
    // Keeps QEMU's error messages after it daemonizes (-D is a path as is, like -pidfile).
    '-D', paths.log,
    '-sandbox', SANDBOX,
    ...(spec.runAs ? ['-runas', spec.runAs] : []),
    '-daemonize',
    ...spec.extraArgs,
  )
  return argv
}
