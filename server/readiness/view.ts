import type { SeatReadiness, VmMessage, VmStatus } from '#schemas/vms'

export interface Readiness {
  ready: boolean
  readySince?: string
  unhealthy?: VmMessage
}

/**
 * Whether a VM is ready for a terminal: running, and for a seat its probe's record (of this very
 * process: a record of an earlier start says nothing) says its service answers. With the probes
 * off (LABVIRT_PROBE_INTERVAL=off), and for VMs no terminal is given, running is ready.
 */
export function readinessOf(status: Pick<VmStatus, 'state' | 'startedAt' | 'kind'> | null | undefined, record: SeatReadiness | null | undefined, probing: boolean): Readiness {
  if (!status || status.state !== 'running') return { ready: false }
  if (!probing || status.kind !== 'seat') return { ready: true, readySince: status.startedAt }
  const cur = record && record.startedAt === status.startedAt ? record : undefined
  return { ready: !!cur?.ready, readySince: cur?.ready ? cur.readySince : undefined, unhealthy: cur?.unhealthy }
}
