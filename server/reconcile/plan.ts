import type { DesiredVm } from './desired'
import type { OpenDrive } from '../qemu/cmdline'

/** A VM process found on this host. */
export interface ActualVm {
  id: string
  pid: number
  startedAt: string
  /** Disk files it has open, from its command line. */
  drives: OpenDrive[]
  /** Its tap interface (tap mode), from its command line. */
  tap?: string
}

/** What the store remembers of a VM between ticks (its status record). */
export interface VmMemory {
  hash?: string
  startedAt?: string
  failures: number
  retryAt?: string
  state?: string
  /** The version of its profile's system disk it runs. */
  version?: number
}

export type Action =
  | { type: 'start'; vm: DesiredVm }
  | { type: 'stop'; id: string; pid: number; reason: 'undesired' | 'held' }
  | { type: 'restart'; vm: DesiredVm; pid: number; reason: 'changed' | 'period' | 'version' | 'unhealthy' | 'session' }
  | { type: 'wait'; id: string; reason: 'backoff' | 'failed' | 'connected' | 'blocked' | 'share' }

export interface PlanInput {
  desired: DesiredVm[]
  actual: ActualVm[]
  memory: Map<string, VmMemory>
  /** VMs an admin holds down (stop, powerdown, kill). */
  held: Set<string>
  /** VMs a terminal is connected to: never restarted for a mere change. */
  connected: Set<string>
  /** VMs with an operation under way (a stop, a restart): left alone until it ends. */
  busy: Set<string>
  /** Seats that answered and then went silent (the probe task's word): restarted once nobody is connected. */
  unhealthy?: ReadonlySet<string>
  /** Each VM's last terminal session that ended (ms since the epoch): fresh seats restart after it. */
  sessionEnds?: ReadonlyMap<string, { began: number; ended: number }>
  now: number
  /** The share of a lab's seats that may be down at once for a move to a new version (0-1). */
  restartShare: number
}

/** After this many starts in a row that died young, a VM is marked failed and left alone. */
export const MAX_FAILURES = 5

/**
 * What to do to make the host match desired state: a pure function, so every rule is testable
 * without a process. Level-based: the same input always gives the same actions, and applying
 * them twice does no harm.
 */
export function plan(input: PlanInput): Action[] {
  const actions: Action[] = []
  const actual = new Map(input.actual.map((a) => [a.id, a]))
  const desired = new Map(input.desired.map((d) => [d.id, d]))
  const down = seatsDown(input)

  for (const a of input.actual) {
    if (input.busy.has(a.id)) continue
    if (!desired.has(a.id)) actions.push({ type: 'stop', id: a.id, pid: a.pid, reason: 'undesired' })
    else if (input.held.has(a.id)) actions.push({ type: 'stop', id: a.id, pid: a.pid, reason: 'held' })
  }

  for (const vm of input.desired) {
    if (input.held.has(vm.id) || input.busy.has(vm.id)) continue
    const running = actual.get(vm.id)
    const mem = input.memory.get(vm.id)
    if (!running) {
      if (blocked(vm, input.actual)) {
        // QEMU's image locks: a writable open excludes every other open of the file, and the
        // reverse. Wait until the VM holding it is gone (a maintenance VM, or seats powering down).
        actions.push({ type: 'wait', id: vm.id, reason: 'blocked' })
      } else if ((mem?.failures ?? 0) >= MAX_FAILURES && mem?.hash === vm.hash) {
        actions.push({ type: 'wait', id: vm.id, reason: 'failed' })
      } else if (mem?.retryAt && Date.parse(mem.retryAt) > input.now && mem.hash === vm.hash) {
        actions.push({ type: 'wait', id: vm.id, reason: 'backoff' })
      } else {
        actions.push({ type: 'start', vm })
      }
      continue
    }
    // A writable VM (maintenance, manual) is someone's work in progress: only seats restart to converge.
    const changed = vm.kind === 'seat' && mem?.hash !== undefined && mem.hash !== vm.hash
    // Behind: it runs an older version of the profile and nothing else differs.
    const behind = changed && mem.version !== undefined && mem.version !== vm.version && vm.hashOn?.(mem.version) === mem.hash
    const started = mem?.startedAt ? Date.parse(mem.startedAt) : undefined
    const expired = vm.restartPeriodHours !== null && started !== undefined && input.now - started >= vm.restartPeriodHours * 3600_000
    const sick = vm.kind === 'seat' && !!input.unhealthy?.has(vm.id)
    // A fresh seat whose student left over the grace ago. Only a session of this process counts:
    // the one before a restart ended on the machine that restart wiped. Someone back on it within
    // the grace has a connection again, so it waits (`connected`) like any restart.
    const session = input.sessionEnds?.get(vm.id)
    const fresh = vm.kind === 'seat' && vm.resetAfterSessionSeconds !== undefined && session !== undefined &&
      session.began >= Date.parse(running.startedAt) && input.now - session.ended >= vm.resetAfterSessionSeconds * 1000
    // A seat only behind waits for its next restart, unless the version asks seats to move now.
    if (!sick && !fresh && (expired ? false : behind ? !vm.moveNow : !changed)) continue
    if (input.connected.has(vm.id)) {
      actions.push({ type: 'wait', id: vm.id, reason: 'connected' })
      continue
    }
    const reason = sick ? 'unhealthy' : changed && !behind ? 'changed' : expired ? 'period' : fresh ? 'session' : 'version'
    if (reason === 'version' || reason === 'session') {
      // A lab is never emptied by a move, nor rebooted whole at the end of a class: at most its
      // share of seats down at once.
      const lab = down.get(vm.lab ?? '')
      if (lab && lab.down >= lab.max) {
        actions.push({ type: 'wait', id: vm.id, reason: 'share' })
        continue
      }
      if (lab) lab.down++
    }
    actions.push({ type: 'restart', vm, pid: running.pid, reason })
  }
  return actions
}

/** The most seats of a lab of `size` that may be down at once for a move: its share, at least one. */
export const moveAllowance = (size: number, share: number) => Math.max(1, Math.floor(size * share))

// Per lab: its desired seats not running or being stopped, and how many may be (of those not held).
function seatsDown(input: PlanInput): Map<string, { down: number; max: number }> {
  const running = new Set(input.actual.map((a) => a.id))
  const out = new Map<string, { down: number; max: number; size: number }>()
  for (const vm of input.desired) {
    // A held seat is the admin's choice, not a move's: it would block every move for good.
    if (vm.kind !== 'seat' || vm.lab === undefined || input.held.has(vm.id)) continue
    const lab = out.get(vm.lab) ?? { down: 0, max: 0, size: 0 }
    lab.size++
    if (!running.has(vm.id) || input.busy.has(vm.id)) lab.down++
    out.set(vm.lab, lab)
  }
  for (const lab of out.values()) lab.max = moveAllowance(lab.size, input.restartShare)
  return out
}

function blocked(vm: DesiredVm, actual: ActualVm[]): boolean {
  const writable = !vm.spec.snapshot
  const mine = new Set(vm.spec.disks.filter((d) => d.media === 'disk').map((d) => d.path))
  return actual.some((a) => a.id !== vm.id && a.drives.some((d) => mine.has(d.file) && (writable || d.writable)))
}

/** How long to wait before the next start of a VM that died young `failures` times in a row. */
export function backoffMs(failures: number): number {
  // The first death restarts at once (a seat killed by accident is back within a tick).
  return failures <= 1 ? 0 : Math.min(1000 * 2 ** (failures - 1), 60_000)
}
