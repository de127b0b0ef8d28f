import type { HostFigures, HostRecord } from '#schemas/resources'
import type { Context } from '../context'
import type { QmpClient } from '../qemu/qmp'
import { diskFree } from '../images/place'
import { emptySeries, History, type Range } from './ring'
import { type DiskCounters, diskCounters, hostCpuTicks, hostLoad, hostMemory, hostNetCounters, type NetCounters, processFigures, tapCounters } from './figures'

export type { Range } from './ring'

/** A VM's series, in this order: CPU % of one core, RSS bytes, disk and network bytes (and ops) per second. */
export const VM_SERIES = ['cpu', 'rss', 'diskRead', 'diskWrite', 'diskReadOps', 'diskWriteOps', 'netRx', 'netTx'] as const
/** A host's series: CPU % of all cores, 1-minute load, memory used, data dir free, network bytes per second. */
export const HOST_SERIES = ['cpu', 'load', 'memoryUsed', 'diskFree', 'netRx', 'netTx'] as const

/** The running VMs of this host, and their QMP monitors: what the reconciler knows. */
export interface VmSource {
  observe(): Promise<{ id: string; pid: number; tap?: string }[]>
  /** LabVirt's one QMP connection to the VM (never a second one: QEMU serves a single client). */
  monitor(id: string): Promise<QmpClient | undefined>
}

/** A VM's counters at its last sample: what GET /metrics serves and the rates come from. */
export interface VmSample {
  at: string
  pid: number
  cpuSeconds: number
  rssBytes: number
  disk?: DiskCounters
  /** Only for a tap (counted by the host); user and bridge mode have none. */
  net?: NetCounters
}

interface VmTrack {
  history: History
  last?: VmSample
  seenAt: number
}

const DAY_MS = 86_400_000

/** Per second between two readings of a counter; NaN when either is missing or it went back (a restart). */
function rate(cur: number | undefined, prev: number | undefined, seconds: number) {
  if (cur === undefined || prev === undefined || cur < prev || seconds <= 0) return NaN
  return (cur - prev) / seconds
}

const orNull = (x: number) => (Number.isNaN(x) ? null : x)

/**
 * Samples this host and its running VMs every LABVIRT_SAMPLE_INTERVAL (the `resources:sample`
 * task) and keeps their history in memory, bounded (see History). The history stays on this
 * host; the host's latest figures go to the store for every host to list.
 */
export class Sampler {
  private readonly vms = new Map<string, VmTrack>()
  private readonly host: History
  private prevHost?: { t: number; cpu: { busy: number; total: number }; net: NetCounters }
  latestHost?: HostFigures
  /** With sampling off the rings are sized for the default and stay empty. */
  readonly intervalMs: number

  constructor(private readonly ctx: Context, private readonly source: VmSource | undefined) {
    this.intervalMs = ctx.config.sampleIntervalMs || 5000
    this.host = new History(HOST_SERIES, this.intervalMs)
  }

  /** One sample of the host and of every running VM, then this host's record in the store. */
  async sample(now = Date.now()): Promise<{ vms: number; ms: number }> {
    const t0 = performance.now()
    const actual = (await this.source?.observe()) ?? []
    await Promise.all(actual.map((vm) => this.sampleVm(vm, now)))
    const running = new Set(actual.map((a) => a.id))
    for (const [id, track] of this.vms) {
      // A VM seen no more keeps its history for the day, not its counters: a restart starts afresh.
      if (!running.has(id)) track.last = undefined
      if (now - track.seenAt > DAY_MS) this.vms.delete(id)
    }
    this.latestHost = await this.sampleHost(now, actual.length)
    await this.publish()
    return { vms: actual.length, ms: Math.round(performance.now() - t0) }
  }

  private async sampleVm(vm: { id: string; pid: number; tap?: string }, now: number) {
    const [proc, qmp, net] = await Promise.all([
      processFigures(vm.pid),
      this.source!.monitor(vm.id),
      vm.tap ? tapCounters(vm.tap) : undefined,
    ])
    if (!proc) return
    const disk = qmp && (await diskCounters(qmp))
    const cur: VmSample = { at: new Date(now).toISOString(), pid: vm.pid, ...proc, disk, net }
    let track = this.vms.get(vm.id)
    if (!track) this.vms.set(vm.id, (track = { history: new History(VM_SERIES, this.intervalMs), seenAt: now }))
    track.seenAt = now
    const prev = track.last?.pid === vm.pid ? track.last : undefined
    track.last = cur
    // Rates need two samples of the same process: the first only sets the counters.
    if (!prev) return
    const s = (now - Date.parse(prev.at)) / 1000
    track.history.add(now, [
      rate(cur.cpuSeconds, prev.cpuSeconds, s) * 100,
      cur.rssBytes,
      rate(disk?.readBytes, prev.disk?.readBytes, s),
      rate(disk?.writeBytes, prev.disk?.writeBytes, s),
      rate(disk?.readOps, prev.disk?.readOps, s),
      rate(disk?.writeOps, prev.disk?.writeOps, s),
      rate(net?.rxBytes, prev.net?.rxBytes, s),
      rate(net?.txBytes, prev.net?.txBytes, s),
    ])
  }

  private async sampleHost(now: number, vms: number): Promise<HostFigures> {
    const [cpu, memory, free, net] = await Promise.all([
      hostCpuTicks(),
      hostMemory(),
      diskFree(this.ctx.config.dataDir).catch(() => NaN),
      hostNetCounters(),
    ])
    const prev = this.prevHost
    this.prevHost = { t: now, cpu, net }
    const s = prev ? (now - prev.t) / 1000 : 0
    const cpuPercent = prev && cpu.total > prev.cpu.total ? ((cpu.busy - prev.cpu.busy) / (cpu.total - prev.cpu.total)) * 100 : NaN
    const rx = rate(net.rxBytes, prev?.net.rxBytes, s)
    const tx = rate(net.txBytes, prev?.net.txBytes, s)
    const load = hostLoad()
    this.host.add(now, [cpuPercent, load[0], memory.used, free, rx, tx])
    return {
      at: new Date(now).toISOString(),
      load,
      cpuPercent: orNull(cpuPercent),
      memory: { usedBytes: memory.used, totalBytes: memory.total },
      diskFreeBytes: orNull(free),
      net: Number.isNaN(rx) || Number.isNaN(tx) ? null : { rxBytesPerSecond: rx, txBytesPerSecond: tx },
      vms,
    }
  }

  private async publish() {
    const record: HostRecord = { id: this.ctx.config.hostId, intervalMs: this.intervalMs, monitoringUrl: this.ctx.config.monitoringUrl, figures: this.latestHost! }
    // The history is kept here whatever the store does: a store outage only hides this host from the others.
    await this.ctx.store.hosts.upsert(record.id, () => record).catch((err) => console.error('[labvirt] host figures not published:', (err as Error).message))
  }

  hasVm(id: string) {
    return this.vms.has(id)
  }

  /** A VM's last counters (undefined unless it runs here and was sampled). */
  vmSample(id: string): VmSample | undefined {
    return this.vms.get(id)?.last
  }

  vmSeries(id: string, range: Range) {
    return this.vms.get(id)?.history.series(range) ?? emptySeries(VM_SERIES)
  }

  hostSeries(range: Range) {
    return this.host.series(range)
  }
}
