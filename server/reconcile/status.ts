import type { VmMessage, VmStatus } from '#schemas/vms'
import type { DesiredProblem, DesiredVm } from './desired'
import { backoffMs, type VmMemory } from './plan'

/** A VM that ran at least this long was healthy: its death is not counted as a failed start. */
export const HEALTHY_AFTER_MS = 30_000

/** A start failed (QEMU refused) is retried no sooner than this, even on its first failure. */
const FAILED_START_RETRY_MS = 1000

/** Death accounting: a VM that died young adds a failure, one that had been healthy starts over at one. */
export function afterDeath(failures: number, startedAt: string | undefined, now: number): Pick<VmMemory, 'failures' | 'retryAt'> {
  const lived = startedAt ? now - Date.parse(startedAt) : 0
  const n = lived >= HEALTHY_AFTER_MS ? 1 : failures + 1
  return { failures: n, retryAt: new Date(now + backoffMs(n)).toISOString() }
}

/**
 * What the store remembers of each VM, for the planner, and which VMs died: recorded `running`
 * but neither seen on the host nor accounted for (`accounted`: running, busy, or stopped by us).
 */
export function remember(statuses: VmStatus[], accounted: ReadonlySet<string>, now: number): { memory: Map<string, VmMemory>; died: string[] } {
  const memory = new Map<string, VmMemory>()
  const died: string[] = []
  for (const s of statuses) {
    const mem: VmMemory = { hash: s.hash, startedAt: s.startedAt, failures: s.failures, retryAt: s.retryAt, state: s.state, version: s.version }
    if (s.state === 'running' && !accounted.has(s.id)) {
      Object.assign(mem, afterDeath(s.failures, s.startedAt, now))
      died.push(s.id)
    }
    memory.set(s.id, mem)
  }
  return { memory, died }
}

export interface StatusInput {
  id: string
  host: string
  now: number
  desired?: DesiredVm
  /** The status record as the pass read it. */
  prev?: VmStatus
  memory?: VmMemory
  /** The process found on the host. */
  actual?: { pid: number; startedAt: string }
  /** This pass's start of it: the new process, or why it failed. */
  started?: { pid: number; startedAt: string } | { error: VmMessage }
  /** Why desired state cannot have it (a bad profile, a missing lab...). */
  problem?: VmMessage
  /** The VM a problem is about, when it never ran: its status still shows what it would be. */
  problemVm?: DesiredProblem['vm']
  /** An operation under way. */
  inflight?: 'starting' | 'stopping'
  held: boolean
  /** Why it exited, when this pass found it dead. */
  death?: VmMessage
  /** QMP's run state, from the VM's monitor. */
  qemuState?: string
}

/**
 * The status record a VM gets from this pass; undefined when it has none any more (neither
 * desired, nor running, nor busy). Pure: the rules for running, stopped, failed and backoff.
 */
export function nextStatus(i: StatusInput): VmStatus | undefined {
  const { desired: d, prev, memory: mem, actual: a, started } = i
  const pv = i.problemVm
  if (!d && !a && !pv && !i.inflight) return undefined
  const base = {
    id: i.id,
    kind: d?.kind ?? pv?.kind ?? prev?.kind ?? 'manual',
    lab: d?.lab ?? pv?.lab ?? prev?.lab,
    seat: d?.seat ?? pv?.seat ?? prev?.seat,
    profile: d?.profile ?? pv?.profile ?? prev?.profile ?? '',
    host: i.host,
    lastExit: i.death ? { at: new Date(i.now).toISOString(), reason: i.death } : prev?.lastExit,
  }
  const fresh = started && 'pid' in started ? started : undefined
  const proc = fresh ?? a
  if (proc) {
    const healthy = i.now - Date.parse(proc.startedAt) >= HEALTHY_AFTER_MS
    return {
      ...base,
      state: i.inflight ?? 'running',
      qemuState: i.qemuState ?? (fresh ? 'running' : undefined),
      pid: proc.pid,
      startedAt: proc.startedAt,
      // The same argv is the same disk file, so the same version (this also reads records written
      // when `version` was the profile's revision).
      version: fresh || (d && prev?.hash === d.hash) ? d?.version : prev?.version ?? d?.version,
      hash: fresh ? d?.hash : prev?.hash ?? d?.hash,
      failures: healthy ? 0 : mem?.failures ?? 0,
    }
  }
  // The hash of the last attempt: backoff and "failed" hold only while the config is unchanged.
  const failedWith = started && 'error' in started ? started.error : undefined
  const failures = failedWith ? (mem?.hash === d?.hash ? mem?.failures ?? 0 : 0) + 1 : mem?.failures ?? 0
  const error = i.problem ?? failedWith ?? i.death ?? (mem?.failures ? prev?.error : undefined)
  return {
    ...base,
    state: i.inflight ?? (error && !i.held ? 'failed' : 'stopped'),
    version: d?.version,
    hash: failedWith ? d?.hash : mem?.hash,
    failures,
    retryAt: failedWith ? new Date(i.now + Math.max(backoffMs(failures), FAILED_START_RETRY_MS)).toISOString() : mem?.retryAt,
    error,
  }
}
