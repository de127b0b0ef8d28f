import type { HostRecord } from '#schemas/resources'
import type { RecordMeta } from '#storage/repository'
import { type Context, useContext } from '../context'
import type { Reconciler } from '../reconcile/index'
import { useReconciler } from '../reconcile/index'
import { getVm } from '../vms/index'
import { type Range, Sampler } from './sampler'

export { Sampler, type VmSample, type VmSource } from './sampler'

let instance: Promise<Sampler> | undefined

/** This process's sampler; VMs are sampled only where the reconciler runs them (LABVIRT_RECONCILE). */
export function useSampler(): Promise<Sampler> {
  instance ??= useContext().then(async (ctx) => new Sampler(ctx, ctx.config.reconcile ? await useReconciler() : undefined))
  return instance
}

/** A host that has not published for this many of its intervals (at least a minute) is shown stale. */
const STALE_INTERVALS = 3

/**
 * Every host that publishes figures to the store (so every host sharing a Redis store), with this
 * host's history; another host's history stays on that host (`history: null`).
 */
export async function listHosts(ctx: Context, sampler: Sampler, range: Range, now = Date.now()) {
  const records = await ctx.store.hosts.list()
  const self = ctx.config.hostId
  const hosts: (HostRecord | Omit<HostRecord, 'figures'> & { figures: null })[] = records.map(({ revision, createdAt, updatedAt, ...r }: HostRecord & RecordMeta) => r)
  // Sampling off here (or its first record not written yet): this host is still listed, without figures.
  if (!hosts.some((h) => h.id === self)) hosts.unshift({ id: self, intervalMs: ctx.config.sampleIntervalMs, monitoringUrl: ctx.config.monitoringUrl, figures: null })
  return hosts.map((h) => ({
    ...h,
    local: h.id === self,
    stale: !!h.figures && now - Date.parse(h.figures.at) > Math.max(60_000, STALE_INTERVALS * h.intervalMs),
    range,
    history: h.id === self && sampler.latestHost ? sampler.hostSeries(range) : null,
  }))
}

/**
 * A VM's series over the range and its last counters; 404 for a VM LabVirt does not know. A VM
 * another host runs has its history there: `sampled: false` and empty series here.
 */
export async function vmStats(ctx: Context, reconciler: Reconciler, sampler: Sampler, id: string, range: Range) {
  const vm = await getVm(ctx, reconciler, id)
  const last = sampler.vmSample(id)
  return {
    id,
    host: vm.host,
    range,
    intervalMs: sampler.intervalMs,
    sampled: vm.host === ctx.config.hostId && sampler.hasVm(id),
    last: last ?? null,
    series: sampler.vmSeries(id, range),
  }
}
