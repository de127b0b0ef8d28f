import { N_ } from '#schemas/msgid'
import { probeOf } from '#schemas/profiles'
import type { SeatReadiness, VmMessage, VmStatus } from '#schemas/vms'
import type { Lab } from '#schemas/labs'
import type { RecordMeta, Stored } from '#storage/repository'
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

/** The collections the seats to probe are computed from: a write to one sends the next run to the store. */
const INPUTS = new Set(['*', 'vms', 'labs', 'profiles'])

type RunningSeat = Stored<VmStatus> & { startedAt: string; lab: string }

/** What a run needs of the store, kept between runs. */
interface SeatView {
  /** When it was read (Date.now()). */
  at: number
  running: RunningSeat[]
  labById: Map<string, Stored<Lab>>
  probeById: Map<string, ReturnType<typeof probeOf>>
  /** Each seat's readiness record as last read or written by this prober. */
  records: Map<string, SeatReadiness>
}

/**
 * Probes every running seat of this host (the one that runs them) on its lab's port, at the seat's
 * IP (bridge, tap) or its forwarded host port (user mode), and keeps its `readiness` record:
 * written when it changes. A seat that answered and then stays silent LABVIRT_UNHEALTHY_AFTER is
 * unhealthy, to be restarted by the reconciler once nobody is connected; a monitor that does not
 * answer `query-status` flags it.
 *
 * It runs every half second, but most runs have no seat due: the seats, labs, profiles and records
 * are read from the store only after one of the inputs changed (a seat started or stopped, a lab
 * edited) or once per LABVIRT_PROBE_INTERVAL, not at every run (with 100 seats that listing cost
 * more than the probes themselves).
 */
export class SeatProber {
  /** When each seat's guest last answered, for the process started at `startedAt`. */
  private answers = new Map<string, { startedAt: string; at: number }>()
  private misses = new Map<string, number>()
  /** When each seat was last probed. */
  private probedAt = new Map<string, number>()
  /** Each seat's last QMP liveness check: asked once per LABVIRT_PROBE_INTERVAL, not at every booting probe. */
  private monitorChecks = new Map<string, { at: number; ok: boolean }>()
  /** Per lab, whether its seats were out of this host's reach when last probed. */
  private labReach = new Map<string, boolean>()
  private view?: SeatView
  /** An input changed since the view was read. */
  private stale = true
  private listening = false

  constructor(private ctx: Context, private deps: ProberDeps) {}

  async run(): Promise<ProbeSummary> {
    const t0 = performance.now()
    const { store, config } = this.ctx
    if (!this.listening) {
      this.listening = true
      store.kv.changes.on('change', (c) => INPUTS.has(c.collection) && (this.stale = true))
    }
    const now = Date.now()
    const writes: Promise<unknown>[] = []
    let view = this.view
    if (!view || this.stale || now - view.at >= config.probeIntervalMs!) {
      view = this.view = await this.read(now, writes)
    }
    const { running, labById, probeById, records } = view

    const due = running.filter((s) => {
      const prev = records.get(s.id)
      const ready = prev !== undefined && prev.startedAt === s.startedAt && prev.ready
      const booting = !ready && now - Date.parse(s.startedAt) < BOOTING_FOR_MS
      return booting || now - (this.probedAt.get(s.id) ?? 0) >= config.probeIntervalMs!
    })
    for (const s of due) this.probedAt.set(s.id, now)

    let restarts = false
    const next = await Promise.all(due.map(async (s) => {
      const lab = labById.get(s.lab)!
      const { record, result } = await this.one(s, lab, probeById.get(s.profile) ?? 'rdp', records.get(s.id))
      return { id: s.id, lab: lab.id, record, result }
    }))
    for (const n of next) this.labReach.set(n.lab, n.result === 'unreachable')
    unreachable = [...this.labReach].filter(([, off]) => off).map(([id]) => id).sort()

    for (const { id, record } of next) {
      const prev = records.get(id)
      if (prev && JSON.stringify(prev) === JSON.stringify(record)) continue
      const same = prev?.startedAt === record.startedAt ? prev : undefined
      if (record.restart && !same?.restart) restarts = true
      records.set(id, record)
      // Not written after all: the next run rereads what the store holds.
      writes.push(store.readiness.upsert(id, () => record).catch((err) => {
        this.stale = true
        throw err
      }))
      if (record.unhealthy && (!same?.unhealthy || same.unhealthy.msgid !== record.unhealthy.msgid)) {
        writes.push(recordEvent(store, SYSTEM, 'unhealthy', N_('VM'), id, undefined, record.unhealthy as { msgid: string; params?: Record<string, string | number> }))
      }
    }
    await Promise.all(writes)
    if (restarts) this.deps.changed()
    return {
      probed: due.length,
      ready: running.filter((s) => records.get(s.id)?.ready).length,
      unhealthy: next.filter((n) => n.record.unhealthy).map((n) => n.id),
      unreachable,
      ms: Math.round(performance.now() - t0),
    }
  }

  /**
   * Reads the running seats of this host and their records, and pushes to `writes` the removal of
   * the records of VMs that no longer run here.
   */
  private async read(now: number, writes: Promise<unknown>[]): Promise<SeatView> {
    const { store, config } = this.ctx
    // Cleared before reading: a change heard while the lists are read sends the next run back.
    this.stale = false
    const [statuses, labs, profiles, stored] = await Promise.all([store.vms.list(), store.labs.list(), store.profiles.list(), store.readiness.list()])
    const labById = new Map(labs.map((l) => [l.id, l]))
    const records = new Map(stored.map((r) => [r.id, strip(r)]))
    const running = statuses.filter((s): s is RunningSeat => s.host === config.hostId && s.kind === 'seat' && s.state === 'running' && !!s.startedAt && !!s.lab && labById.has(s.lab))
    const runningIds = new Set(running.map((s) => s.id))
    const byId = new Map(statuses.map((s) => [s.id, s]))
    // Not running here any more: not ready. Records of VMs another host runs are that host's.
    for (const id of [...records.keys()]) {
      const s = byId.get(id)
      if (runningIds.has(id) || (s && s.host !== config.hostId)) continue
      this.answers.delete(id)
      this.misses.delete(id)
      this.probedAt.delete(id)
      this.monitorChecks.delete(id)
      records.delete(id)
      writes.push(store.readiness.upsert(id, () => null).catch(unlessConflict))
    }
    const labsRunning = new Set(running.map((s) => s.lab))
    for (const id of this.labReach.keys()) if (!labsRunning.has(id)) this.labReach.delete(id)
    return { at: now, running, labById, probeById: new Map(profiles.map((p) => [p.id, probeOf(p)])), records }
  }

  private async one(s: RunningSeat, lab: Stored<Lab>, kind: ReturnType<typeof probeOf>, prev: SeatReadiness | undefined): Promise<{ record: SeatReadiness; result: ProbeResult }> {
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
    // A reply in time within the interval (the reconciler asks `query-status` at each pass) says as
    // much as asking again.
    const reply = qmp?.lastReply
    const answered = !!reply && now - reply.at < this.ctx.config.probeIntervalMs! && reply.ms < QMP_TIMEOUT_MS
    const ok = !!qmp && (answered || (await qmp.execute('query-status', undefined, { timeoutMs: QMP_TIMEOUT_MS }).then(() => true, () => false)))
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
