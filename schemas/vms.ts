import * as v from 'valibot'
import { N_ } from './msgid'
import { Name } from './common'

export const VM_STATES = ['stopped', 'starting', 'running', 'stopping', 'failed'] as const
export type VmState = (typeof VM_STATES)[number]

export const VM_KINDS = ['seat', 'maintenance', 'manual'] as const
export type VmKind = (typeof VM_KINDS)[number]

export const VM_ACTIONS = ['start', 'stop', 'powerdown', 'reset', 'kill', 'restart'] as const
export type VmActionName = (typeof VM_ACTIONS)[number]

export const VmAction = v.strictObject({ action: v.picklist(VM_ACTIONS) })

/** A VM id: a name, or a name with a seat number (`lab-3`) or `-maint`. */
export const VmId = v.pipe(
  v.string(),
  v.regex(/^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?(?:-(?:[1-9]\d{0,2}|maint))?$/, N_('Not a VM name')),
)

export const MAINTENANCE_ACTIONS = ['start', 'stop', 'publish', 'discard', 'rollback', 'promote'] as const
export const MAINTENANCE_MODES = ['overlay', 'exclusive'] as const
export const MaintenanceAction = v.strictObject({
  action: v.picklist(MAINTENANCE_ACTIONS),
  /** Overlay (the default): the seats keep running on the current version meanwhile. */
  mode: v.optional(v.picklist(MAINTENANCE_MODES), 'overlay'),
  /**
   * start: power down the seats in the way (exclusive mode) instead of refusing. publish: idle
   * seats restart onto the new version at once, the others as their terminals leave.
   */
  force: v.optional(v.boolean(), false),
  /** The lab whose network the maintenance VM joins; the first lab allowing the profile by default. */
  lab: v.optional(Name),
  /** publish: what changed, for the event log and the versions list. */
  note: v.optional(v.pipe(v.string(), v.maxLength(500), v.regex(/^[^\u0000-\u0008\u000b-\u001f\u007f]*$/, N_('Control characters are not allowed'))), ''),
  /** publish: the one seat (`<lab>-<n>`) that runs the new version until `promote`. */
  canary: v.optional(v.pipe(v.string(), v.regex(/^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?-[1-9]\d{0,2}$/, N_('Not a seat name')))),
})

/** Maintenance of a profile, as stored under `maintenance:<profile>`. */
export interface Maintenance {
  profile: string
  mode: 'exclusive' | 'overlay'
  lab?: string
  by: string
  /** Overlay mode: the writable qcow2 (a file of the images directory) on the version `base`. */
  overlay?: string
  base?: number
  /** Set while a publish or discard powers the VM down and uses or drops its overlay. */
  state?: 'running' | 'publishing' | 'discarding'
  /** While publishing: the file of the next version. */
  next?: string
}

/** A one-off VM (`labvirt launch`), as stored under `manual:<name>`. */
export const ManualCreate = v.strictObject({
  name: Name,
  profile: Name,
  /** An ISO under the images directory, attached as a CD-ROM. */
  cdrom: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.iso$/, N_('Must be the file name of an .iso in the images directory')))),
  boot: v.optional(v.picklist(['c', 'd'] as const), 'c'),
  /** Writable (installing an OS) unless false. */
  snapshot: v.optional(v.boolean(), false),
})
export type Manual = v.InferOutput<typeof ManualCreate>

/** A message to translate for each reader: a msgid and its params (which may be messages too). */
export interface VmMessage {
  msgid: string
  params?: Record<string, unknown>
}

/**
 * What LabVirt knows of a VM, as `GET /api/vms` shows it and as stored under `vms:<id>` by the host
 * that runs it.
 */
export interface VmStatus {
  id: string
  kind: VmKind
  lab?: string
  seat?: number
  profile: string
  /** The version of its profile's system disk it runs (or would run, when stopped). */
  version?: number
  state: VmState
  /** QMP's run state (`running`, `paused`, ...) when the VM is up. */
  qemuState?: string
  pid?: number
  host: string
  startedAt?: string
  /** Hash of the argv it was started with: a different desired argv means restart. */
  hash?: string
  /** Why it is not running: a msgid and its params, translated for each reader. */
  error?: VmMessage
  /** Starts that died young in a row; reset by a VM that stays up or by an admin's start. */
  failures: number
  /** No new start before this time (backing off a VM that keeps dying). */
  retryAt?: string
  /** Held down by an admin's stop, powerdown or kill: not started again until `start`. */
  held?: boolean
  /** When and why the VM last exited on its own (not stopped by LabVirt), kept across restarts. */
  lastExit?: { at: string; reason: VmMessage }
}

/**
 * Who is on a VM, as `GET /api/vms` shows it beside its status: from its `connections` record
 * (written by the host that runs it), never stored in the status itself.
 */
export interface VmConnectionView {
  /** A terminal (or an admin's console) is connected to the VM. */
  connected: boolean
  /** The connected terminal's name, or its address when no terminal has that address. */
  terminal?: string
  /** Since when this terminal (or, with none, the consoles) has been connected. */
  connectedSince?: string
  /** Admin consoles (VNC) open on the VM. */
  consoles?: number
}

/**
 * Whether a running seat's service answers, as stored under `readiness:<vm>` by the host that
 * runs it (the `seats:probe` task). It holds for the process started at `startedAt` only.
 */
export interface SeatReadiness {
  startedAt: string
  ready: boolean
  readySince?: string
  /** When the guest last answered, as of the last change. */
  lastAnswer?: string
  /** The host cannot reach the lab's network: ready means running. */
  fallback?: boolean
  /** Why the seat looks broken (no answer for a while, a monitor that does not answer). */
  unhealthy?: VmMessage
  /** It stopped answering: the reconciler restarts it once nobody is connected. */
  restart?: boolean
}

/** What `GET /api/vms` shows of a VM's readiness. */
export interface VmReadinessView {
  ready: boolean
  readySince?: string
  unhealthy?: string
}
