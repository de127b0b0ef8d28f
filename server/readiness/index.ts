import { N_ } from '#schemas/msgid'
import { probeOf } from '#schemas/profiles'
import type { SeatReadiness, VmMessage, VmStatus } from '#schemas/vms'
import type { Lab } from '#schemas/labs'
import type { RecordMeta } from '#storage/repository'
import { type Context, useContext } from '../context'
import { SYSTEM, recordEvent } from '../events'
import { unlessConflict } from '../records'
import { seatEndpoint } from '../network/endpoint'
import { probe, type ProbeResult } from '../network/probe'
import type { QmpClient } from '../qemu/qmp'
import { useReconciler } from '../reconcile/index'

/** A ready seat stays ready through this many probes in a row without an answer (a loaded guest may miss one). */
const MISSES = 2
const PROBE_TIMEOUT_MS = 1000
/**
 * A seat not ready yet gives up sooner: before its network is up a probe hears nothing at all, and
 * waiting out the full second then delays seeing its service by as much (measured: p95 1.2 s).
 */
const BOOTING_TIMEOUT_MS = 300
/**
 * A seat not ready yet is probed this often, a ready one every LABVIRT_PROBE_INTERVAL: a booting
 * seat is handed out within about this long of its service answering, and a ready one's service
 * (an RDP server that logs each connection) is not knocked on twice a second all day.
 */
export const BOOTING_PROBE_MS = 500
/**
 * For this long after its start: past it, a seat still not answering (a guest with no service, or
 * one that hangs at boot) is probed every LABVIRT_PROBE_INTERVAL like a ready one, so a lab of such
 * seats does not cost the server a tenth of a core in probes (bench/resources.ts).
 */
const BOOTING_FOR_MS = 120_000
const QMP_TIMEOUT_MS = 1000

export interface ProberDeps {
  /** The running VM's monitor (the reconciler's one QMP connection to it). */
  monitor(id: string): Promise<QmpClient | undefined>
  /** A seat is to be restarted: the reconciler should plan now. */
  changed(): void
}

export interface ProbeSummary {
  probed: number
  ready: number
  unhealthy: string[]
  /** Labs whose seats this host cannot reach: their readiness is "running". */
  unreachable: string[]
  ms: number
}

/** Labs whose seats the last probe could not reach from this host (no address on their network). */
let unreachable: string[] = []
export const unreachableLabs = (): readonly string[] => unreachable

const iso = (ms: number) => new Date(ms).toISOString()
// What was written: the record without its id and metadata, to tell a change.
const strip = ({ id, revision, createdAt, updatedAt, ...r }: SeatReadiness & Partial<RecordMeta> & { id?: string }): SeatReadiness => r

/**
 * Probes every running seat of this host (the one that runs them) on its lab's port, at the seat's
 * IP (bridge, tap) or its forwarded host port (user mode), and keeps its `readiness` record:
 * written when it changes. A seat that answered and then stays silent LABVIRT_UNHEALTHY_AFTER is
 * unhealthy, to be restarted by the reconciler once nobody is connected; a monitor that does not
 * answer `query-status` flags it.
 */
export class SeatProber {
  /** When each seat's guest last answered, for the process started at `startedAt`. */
  private answers = new Map<string, { startedAt: string; at: number }>()
  private misses = new Map<string, number>()
  /** When each seat was last probed. */
  private probedAt = new Map<string, number>()
  /** Each seat's last QMP liveness check: asked once per LABVIRT_PROBE_INTERVAL, not at every booting probe. */
  private monitorChecks = new Map<string, { at: number; ok: boolean }>()

  constructor(private ctx: Context, private deps: ProberDeps) {}

  async run(): Promise<ProbeSummary> {
    const t0 = performance.now()
    const { store, config } = this.ctx
    const [statuses, labs, profiles, records] = await Promise.all([store.vms.list(), store.labs.list(), store.profiles.list(), store.readiness.list()])
    const labById = new Map(labs.map((l) => [l.id, l]))
    const probeById = new Map(profiles.map((p) => [p.id, probeOf(p)]))
    const recordById = new Map(records.map((r) => [r.id, strip(r)]))
    const running = statuses.filter((s) => s.host === config.hostId && s.kind === 'seat' && s.state === 'running' && s.startedAt && s.lab && labById.has(s.lab))
    const runningIds = new Set(running.map((s) => s.id))
    const byId = new Map(statuses.map((s) => [s.id, s]))

    const now = Date.now()
    const due = running.filter((s) => {
      const prev = recordById.get(s.id)
      const ready = prev !== undefined && prev.startedAt === s.startedAt && prev.ready
      const booting = !ready && now - Date.parse(s.startedAt!) < BOOTING_FOR_MS
      return booting || now - (this.probedAt.get(s.id) ?? 0) >= config.probeIntervalMs!
    })
    for (const s of due) this.probedAt.set(s.id, now)

    const off = new Set<string>()
    let restarts = false
    const next = await Promise.all(due.map(async (s) => {
      const lab = labById.get(s.lab!)!
      const { record, result } = await this.one(s as VmStatus & { startedAt: string }, lab, probeById.get(s.profile) ?? 'rdp', recordById.get(s.id))
      if (result === 'unreachable') off.add(lab.id)
      return { id: s.id, record }
    }))
    unreachable = [...off].sort()

    const writes: Promise<unknown>[] = []
    for (const { id, record } of next) {
      const prev = recordById.get(id)
      if (prev && JSON.stringify(prev) === JSON.stringify(record)) continue
      const same = prev?.startedAt === record.startedAt ? prev : undefined
      if (record.restart && !same?.restart) restarts = true
      writes.push(store.readiness.upsert(id, () => record))
      if (record.unhealthy && (!same?.unhealthy || same.unhealthy.msgid !== record.unhealthy.msgid)) {
        writes.push(recordEvent(store, SYSTEM, 'unhealthy', N_('VM'), id, undefined, record.unhealthy as { msgid: string; params?: Record<string, string | number> }))
      }
    }
    // Not running here any more: not ready. Records of VMs another host runs are that host's.
    for (const id of recordById.keys()) {
      const s = byId.get(id)
      if (runningIds.has(id) || (s && s.host !== config.hostId)) continue
      this.answers.delete(id)
      this.misses.delete(id)
      this.probedAt.delete(id)
      this.monitorChecks.delete(id)
      writes.push(store.readiness.upsert(id, () => null).catch(unlessConflict))
    }
    await Promise.all(writes)
    if (restarts) this.deps.changed()
    // A seat probed now counts by its new record, one not due by the record it keeps.
    const probedNow = new Map(next.map((n) => [n.id, n.record.ready]))
    return {
      probed: due.length,
      ready: running.filter((s) => probedNow.get(s.id) ?? recordById.get(s.id)?.ready).length,
      unhealthy: next.filter((n) => n.record.unhealthy).map((n) => n.id),
      unreachable,
      ms: Math.round(performance.now() - t0),
    }
  }

  private async one(s: VmStatus & { startedAt: string }, lab: Lab, kind: ReturnType<typeof probeOf>, prev: SeatReadiness | undefined): Promise<{ record: SeatReadiness; result: ProbeResult }> {
    const now = Date.now()
    const { config } = this.ctx
    const target = s.seat !== undefined ? seatEndpoint(lab, s.seat, config.forwardAddress ?? '127.0.0.1') : undefined
    const [result, monitorAnswers] = await Promise.all([
      kind === 'none' ? ('answer' as const) : target ? probe(target.host, target.port, kind, prev?.startedAt === s.startedAt && prev.ready ? PROBE_TIMEOUT_MS : BOOTING_TIMEOUT_MS) : ('unreachable' as const),
      this.monitorAnswers(s.id, now),
    ])
    const same = prev?.startedAt === s.startedAt ? prev : undefined
    let last = this.answers.get(s.id)
    if (last?.startedAt !== s.startedAt) last = undefined
    // A seat found ready before this process started: its last answer is taken as now.
    if (!last && same?.ready && !same.fallback) last = { startedAt: s.startedAt, at: now }
    const misses = result === 'silent' ? (this.misses.get(s.id) ?? 0) + 1 : 0
    this.misses.set(s.id, misses)
    if (result === 'answer') last = { startedAt: s.startedAt, at: now }
    if (last) this.answers.set(s.id, last)
    else this.answers.delete(s.id)

    const fallback = result === 'unreachable'
    const ready = result === 'answer' || fallback || (!!same?.ready && !same.fallback && misses < MISSES)
    const stale = result === 'silent' && last !== undefined && now - last.at >= config.unhealthyAfterMs
    let unhealthy: VmMessage | undefined
    if (stale) unhealthy = { msgid: N_('No answer on port {port} for over {seconds} s'), params: { port: target!.port, seconds: Math.round(config.unhealthyAfterMs / 1000) } }
    else if (!monitorAnswers) unhealthy = { msgid: N_('Its QMP monitor does not answer query-status') }
    const record: SeatReadiness = {
      startedAt: s.startedAt,
      ready,
      ...(ready ? { readySince: same?.ready ? same.readySince ?? iso(now) : iso(now) } : {}),
      ...(!ready && last ? { lastAnswer: iso(last.at) } : {}),
      ...(fallback ? { fallback: true } : {}),
      ...(unhealthy ? { unhealthy } : {}),
      ...(stale ? { restart: true } : {}),
    }
    return { record, result }
  }

  private async monitorAnswers(id: string, now: number): Promise<boolean> {
    const last = this.monitorChecks.get(id)
    if (last && now - last.at < this.ctx.config.probeIntervalMs!) return last.ok
    const qmp = await this.deps.monitor(id)
    const ok = !!qmp && (await qmp.execute('query-status', undefined, { timeoutMs: QMP_TIMEOUT_MS }).then(() => true, () => false))
    this.monitorChecks.set(id, { at: now, ok })
    return ok
  }
}

let instance: Promise<SeatProber> | undefined

/** This process's prober (run by the `seats:probe` task). */
export function useProber(): Promise<SeatProber> {
  instance ??= Promise.all([useContext(), useReconciler()]).then(([ctx, r]) => new SeatProber(ctx, { monitor: (id) => r.monitor(id), changed: () => r.trigger() }))
  return instance
}
