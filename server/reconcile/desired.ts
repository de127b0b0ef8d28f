import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { Stored } from '#storage'
import { DEFAULT_SEAT_PORT, type Lab } from '#schemas/labs'
import { type Profile, sessionResetOf } from '#schemas/profiles'
import type { Image } from '#schemas/images'
import type { Maintenance, Manual, VmKind } from '#schemas/vms'
import type { ProfileVersions, Version } from '#schemas/versions'
import { type Accel, buildQemuArgs, type VmDisk, type VmNetdev, type VmNic, type VmSpec } from '../qemu/args'
import { networkNeed, type NetworkNeed } from '../network/checks'
import { seatMac, seatVm } from '../labs/seats'
import { msg, type Params } from '../errors'
import { N_ } from '#schemas/msgid'
import { extraArgIssues } from '#schemas/extra-args'
import { currentOf, systemDisk, versionFor, versionsOf } from '../profiles/version-model'

/** Everything desired state is computed from: a snapshot of the store. */
export interface Model {
  labs: Stored<Lab>[]
  profiles: Stored<Profile>[]
  images: Stored<Image>[]
  maintenance: Maintenance[]
  manual: Stored<Manual>[]
  /** Profiles' version records (`versions:<profile>`); a profile without one runs its disk as v1. */
  versions: Stored<ProfileVersions>[]
}

export interface HostSettings {
  runDir: string
  imagesDir: string
  accel: Accel
  /** The address user-mode seats' host ports listen on (LABVIRT_FORWARD_ADDRESS); all when unset. */
  forwardAddress?: string
  /** The user QEMU drops to (`-runas`); unset keeps LabVirt's own. */
  qemuUser?: string
}

/** A VM that should be running, with everything needed to start it. */
export interface DesiredVm {
  id: string
  kind: VmKind
  lab?: string
  seat?: number
  profile: string
  /** The version of the profile's system disk it runs. */
  version: number
  spec: VmSpec
  argv: string[]
  /** Identifies the argv: a running VM started from another one must restart to converge. */
  hash: string
  /** Image files that must exist before QEMU is worth starting. */
  images: string[]
  /** The tap or bridge that must be in place before QEMU is worth starting. */
  network?: NetworkNeed
  restartPeriodHours: number | null
  /** A fresh seat (its profile's `resetAfterSession`): restarted this long after a session ended. */
  resetAfterSessionSeconds?: number
  /**
   * A seat's hash on version `n` of its profile: tells a seat that is only behind from a changed
   * one. Computed when asked (a pass asks only for seats running another version), then kept.
   */
  hashOn?: (n: number) => string | undefined
  /** A seat behind its profile's current version restarts onto it once idle (else at its next restart). */
  moveNow?: boolean
}

/** A VM that cannot be desired as asked, and why (a msgid with params). */
export interface DesiredProblem {
  id: string
  msgid: string
  params: Params
  /** Set when the problem is a VM's (not a lab's): what its status shows although it never ran. */
  vm?: Pick<DesiredVm, 'kind' | 'lab' | 'seat' | 'profile'>
}

function hashesOn(versions: Version[], hash: (v: Version) => string) {
  const known = new Map<number, string | undefined>()
  return (n: number) => {
    if (!known.has(n)) {
      const v = versions.find((x) => x.n === n)
      let h: string | undefined
      try {
        h = v && hash(v)
      } catch {
        // A command line that cannot be built on that version matches no running seat.
      }
      known.set(n, h)
    }
    return known.get(n)
  }
}

// A stable UUID per VM name (the guest sees the same machine across restarts: Windows cares).
function uuidFor(name: string) {
  const h = createHash('sha256').update(`labvirt:${name}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * A seat's NIC on its lab's network. In user mode seat n is reached at host port hostPort + n - 1;
 * other VMs (maintenance, `seat` undefined) get no forward: seat 0 would take hostPort - 1, a port
 * of another lab's block, and the admin reaches them through the console anyway.
 */
function nicFor(profile: Profile, lab: Lab | undefined, mac: string | undefined, seat: number | undefined, host: HostSettings): VmNic | null {
  if (!lab || !mac) return null
  const { port, hostPort } = lab.network
  const need = networkNeed(lab.network, mac)
  let netdev: VmNetdev
  if (need?.mode === 'bridge') netdev = { mode: 'bridge', bridge: need.bridge }
  else if (need?.mode === 'tap') netdev = { mode: 'tap', ifname: need.tap }
  else if (seat === undefined || hostPort === undefined) netdev = { mode: 'user' }
  else netdev = { mode: 'user', hostfwd: [{ hostAddress: host.forwardAddress, hostPort: hostPort + seat - 1, guestPort: port ?? DEFAULT_SEAT_PORT }] }
  return { model: profile.nic, mac, netdev }
}

/** The first active profile a lab allows: what its seats run. */
export function defaultProfile(lab: Lab, profiles: Map<string, Profile>): string | undefined {
  return lab.profiles.find((p) => profiles.get(p)?.active)
}

/**
 * Desired state, a pure function of the store: seats 1..size of every lab on its default profile
 * (snapshot disks), one writable `<profile>-maint` VM per profile in maintenance, and the manual
 * VMs. Seats whose disks a maintenance VM holds writable stay down meanwhile.
 */
export function desiredVms(model: Model, host: HostSettings): { vms: DesiredVm[]; problems: DesiredProblem[] } {
  const profiles = new Map(model.profiles.map((p) => [p.id, p]))
  const images = new Map(model.images.map((i) => [i.id, i]))
  const labs = new Map(model.labs.map((l) => [l.id, l]))
  const vms: DesiredVm[] = []
  const problems: DesiredProblem[] = []

  const stored = new Map(model.versions.map((v) => [v.id, v]))
  const versions = new Map(model.profiles.map((p) => [p.id, versionsOf(p, stored.get(p.id), images)]))

  // The system disk is the file of the version the VM runs (the current one unless told).
  const diskFiles = (profile: Profile & { id: string }, version?: Pick<Version, 'image' | 'format'>) => {
    const sys = systemDisk(profile)
    const v = version ?? (versions.get(profile.id) && currentOf(versions.get(profile.id)!))
    return profile.disks.map((d, i) => {
      const image = images.get(d.image)
      if (i === sys && v) return { path: join(host.imagesDir, v.image), format: v.format }
      return { path: join(host.imagesDir, image?.file ?? `${d.image}.qcow2`), format: image?.format }
    })
  }
  const diskPaths = (profile: Profile & { id: string }) => diskFiles(profile).map((f) => f.path)
  const hashOf = (argv: string[]) => createHash('sha256').update(JSON.stringify(argv)).digest('hex').slice(0, 16)

  function make(id: string, kind: VmKind, profile: Stored<Profile>, lab: Stored<Lab> | undefined, mac: string | undefined, opts: { snapshot: boolean; cdrom?: string; boot?: 'c' | 'd'; seat?: number; version?: Version; moveNow?: boolean }) {
    // A profile stored before the extra arguments allowlist: its VMs wait for the admin to edit it.
    const refused = extraArgIssues(profile.extraArgs ?? [])
    if (refused.length) {
      const args = refused.map((i) => String(profile.extraArgs[i.index])).join(' ')
      const vm = { kind, lab: lab?.id, seat: opts.seat, profile: profile.id }
      return void problems.push({ id, vm, msgid: N_('Profile "{profile}" has extra arguments LabVirt does not allow ({args}); edit the profile: it has fields for the machine, CPU, clock, tablet, sound, display, SMBIOS and UEFI'), params: { profile: profile.id, args } })
    }
    // An uploaded raw disk or ISO is opened as raw; the format is never left for QEMU to guess.
    const vs = versions.get(profile.id)
    const version = opts.version ?? (vs && currentOf(vs))
    const disksOn = (v: Version | undefined): VmDisk[] => {
      const files = diskFiles(profile, v)
      const out: VmDisk[] = profile.disks.map((d, i) => ({ path: files[i]!.path, bus: d.bus, media: d.media, format: files[i]!.format === 'qcow2' ? 'qcow2' : files[i]!.format ? 'raw' : undefined }))
      if (opts.cdrom) out.push({ path: join(host.imagesDir, opts.cdrom), bus: 'ide', media: 'cdrom' })
      return out
    }
    const disks = disksOn(version)
    const specOf = (disks: VmDisk[]): VmSpec => ({
      name: id,
      uuid: uuidFor(id),
      memoryMiB: profile.memoryMiB,
      cpus: profile.cpus,
      accel: host.accel,
      disks,
      snapshot: opts.snapshot,
      nic: nicFor(profile, lab, mac, opts.seat, host),
      runDir: host.runDir,
      boot: opts.boot,
      machine: profile.machine,
      cpuModel: profile.cpuModel,
      rtcLocalTime: profile.rtcLocalTime,
      usbTablet: profile.usbTablet,
      sound: profile.sound,
      display: profile.display,
      smbios: profile.smbios,
      firmware: profile.firmware,
      runAs: host.qemuUser,
      extraArgs: profile.extraArgs,
    })
    const spec = specOf(disks)
    let argv: string[]
    try {
      argv = buildQemuArgs(spec)
    } catch (err) {
      problems.push({ id, vm: { kind, lab: lab?.id, seat: opts.seat, profile: profile.id }, msgid: N_('Cannot build the QEMU command line: {error}'), params: { error: (err as Error).message } })
      return
    }
    const resetAfter = kind === 'seat' ? sessionResetOf(profile) : undefined
    vms.push({
      id,
      kind,
      lab: lab?.id,
      seat: opts.seat,
      profile: profile.id,
      version: version?.n ?? 1,
      spec,
      argv,
      hash: hashOf(argv),
      images: disks.map((d) => d.path),
      network: lab && mac ? networkNeed(lab.network, mac) : undefined,
      restartPeriodHours: kind === 'seat' ? profile.restartPeriodHours : null,
      ...(resetAfter !== undefined && { resetAfterSessionSeconds: resetAfter }),
      ...(kind === 'seat' && vs && { hashOn: hashesOn(vs.versions, (v) => hashOf(buildQemuArgs(specOf(disksOn(v))))), moveNow: opts.moveNow ?? vs.moveNow }),
    })
  }

  // Maintenance first: its writable disks are off limits to seats while it runs.
  const heldWritable = new Set<string>()
  for (const m of model.maintenance) {
    const profile = profiles.get(m.profile)
    if (!profile) continue
    const lab = m.lab ? labs.get(m.lab) : model.labs.find((l) => l.profiles.includes(profile.id))
    // Publishing or discarding: the VM powers down before its overlay is read or removed.
    if (m.state && m.state !== 'running') continue
    const vs = versions.get(profile.id)
    const base = vs && (vs.versions.find((v) => v.n === m.base) ?? currentOf(vs))
    // Overlay mode: the VM writes to its own qcow2 on the version, which it opens read-only
    // like the seats' snapshot=on, so the seats run on meanwhile.
    const version = m.mode === 'overlay' && m.overlay && base ? { ...base, image: m.overlay, format: 'qcow2' } : base
    // The seed's seat 0: the lab's MAC base itself.
    make(`${profile.id}-maint`, 'maintenance', profile, lab, lab ? seatMac(lab, 0) : undefined, { snapshot: false, version })
    const sys = systemDisk(profile)
    for (const [i, p] of diskPaths(profile).entries()) if (m.mode !== 'overlay' || i !== sys) heldWritable.add(p)
  }

  for (const lab of model.labs) {
    const id = defaultProfile(lab, profiles)
    if (!id) {
      if (lab.size > 0) problems.push({ id: lab.id, msgid: N_('Lab "{lab}" allows no active profile'), params: { lab: lab.id } })
      continue
    }
    const profile = profiles.get(id)!
    if (diskPaths(profile).some((p) => heldWritable.has(p))) continue
    const vs = versions.get(profile.id)
    for (let n = 1; n <= lab.size; n++) {
      const id = seatVm(lab.id, n)
      const runs = vs && versionFor(vs, id)
      // A canary is there to be tried: it moves as soon as no terminal is on it.
      make(id, 'seat', profile, lab, seatMac(lab, n), { snapshot: true, seat: n, version: runs?.version, moveNow: runs?.canary ? true : undefined })
    }
  }

  for (const m of model.manual) {
    const profile = profiles.get(m.profile)
    if (!profile) {
      problems.push({ id: m.id, msgid: N_('No {kind} named "{id}"'), params: { kind: msg(N_('profile')), id: m.profile } })
      continue
    }
    const lab = model.labs.find((l) => l.profiles.includes(profile.id))
    make(m.id, 'manual', profile, lab, undefined, { snapshot: m.snapshot, cdrom: m.cdrom, boot: m.boot })
  }
  return { vms, problems }
}
