import * as v from 'valibot'

export const RANGES = ['hour', 'day'] as const

/** `?range=hour|day` of GET /api/hosts and GET /api/vms/:id/stats: the last hour as sampled, or the day in 1-minute averages. */
export const StatsQuery = v.strictObject({
  range: v.optional(v.picklist(RANGES), 'hour'),
})

/** A host's figures at its last sample. Rates are per second; null where the host could not measure. */
export interface HostFigures {
  at: string
  load: [number, number, number]
  /** Busy share of all CPUs together, 0-100 (null on the first sample). */
  cpuPercent: number | null
  memory: { usedBytes: number; totalBytes: number }
  /** Free space of the data directory. */
  diskFreeBytes: number | null
  /** Bytes/s through every interface but loopback (null on the first sample). */
  net: { rxBytesPerSecond: number; txBytesPerSecond: number } | null
  /** Running VMs sampled here. */
  vms: number
}

/** What each host publishes to the store at every sample, so GET /api/hosts on any host lists them all. */
export interface HostRecord {
  id: string
  intervalMs: number
  monitoringUrl?: string
  figures: HostFigures
}
