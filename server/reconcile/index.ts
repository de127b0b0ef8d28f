import { readdirSync } from 'node:fs'
import { type Context, useContext } from '../context'
import { imagesDir, runDir } from '../config'
import { probeVm, sameProcess } from '../qemu/process'
import { drivesOf, tapOf } from '../qemu/cmdline'
import { vmPaths } from '../qemu/paths'
import { hidePaths } from '../errors'
import { holdLease, RecordConflict, type StoreChange } from '#storage'
import { unlessConflict } from '../records'
import { recordEvent, SYSTEM } from '../events'
import type { RecordMeta } from '#storage/repository'
import type { VmMessage, VmStatus } from '#schemas/vms'
import { N_ } from '#schemas/msgid'
import { type DesiredProblem, type DesiredVm, desiredVms, type Model } from './desired'
import { type Action, type ActualVm, plan, type VmMemory } from './plan'
import { nextStatus, remember, type StatusInput } from './status'
import { Monitors } from './monitors'
import { Launcher } from '../qemu/launcher'
import { reconcileErrors, reconcilePassSeconds } from '../metrics/registry'
import type { QmpClient } from '../qemu/qmp'
import { type HostRuntime, qemuLogTail, startVms, stopVm, type StopHow } from './vm-ops'

/** The collections `model()` reads: desired state changes only when one of them does. */
export const MODEL_COLLECTIONS = ['labs', 'profiles', 'images', 'maintenance', 'manual', 'versions'] as const

/**
 * The collections a pass acts on: a write to one of them (here or, on a shared Redis store, on
 * another host) triggers a pass. Desired state's, and the holds. Not `vms` or `connections`: the
 * pass writes those.
 */
const DESIRED_INPUTS = new Set<string>([...MODEL_COLLECTIONS, 'holds'])

/** The restarts the event log tells of, none an admin asked for: why each happened. */
const LOGGED_RESTARTS: Partial<Record<Extract<Action, { type: 'restart' }>['reason'], string>> = {
  unhealthy: N_('Restarted: it stopped answering on its port'),
  session: N_('Restarted on a clean snapshot: its session ended'),
}

/** How long the reconciler's lease lasts without renewal (each pass renews it). */
const LEASE_MS = 20_000

/**
 * What the rest of the server may use of the reconciler's live view of its VMs (an admin's reset,
 * the connection watcher), instead of reaching into its monitors and counters.
 */
export interface VmMonitors {
  /** The running VM's QMP monitor (LabVirt's one connection to it); undefined when it does not answer. */
  monitor(id: string): Promise<QmpClient | undefined>
  /** Admin consoles (VNC clients) open per running VM. */
  consoleCounts(): ReadonlyMap<string, number>
}

/** What one pass saw: desired state, this host's QEMU processes and the store's records. */
interface Observation {
  desired: DesiredVm[]
  problems: DesiredProblem[]
  actual: ActualVm[]
  statuses: VmStatus[]
  held: Set<string>
  connected: Set<string>
  /** Seats the probe task found silent after they answered, in the process running now. */
  unhealthy: Set<string>
  /** Each VM's last terminal session that ended (the connection watcher's records). */
  sessionEnds: Map<string, { began: number; ended: number }>
  now: number
}

export interface TickSummary {
  /** Another host holds the reconciler's lease: this one did nothing. */
  standby?: boolean
  desired: number
  running: number
  started: string[]
  stopping: string[]
  failed: string[]
  ms: number
}

/**
 * Makes this host's QEMU processes match desired state: observe (pidfiles, /proc, QMP), plan (a
 * pure function), apply (idempotent), and write each VM's status to the store. Runs every few
 * seconds and at once when the store changes or a VM's QMP connection reports an exit.
 */
export class Reconciler implements VmMonitors {
  private readonly rt: HostRuntime
  private inflight = new Map<string, { state: 'starting' | 'stopping'; done: Promise<void> }>()
  private running: Promise<TickSummary> | undefined
  /** Store changes heard so far, and how many had been heard when the running pass began. */
  private changesHeard = 0
  private runningSince = -1
  private listening = false
  /** Until when this host's lease is known to hold without renewing it. */
  private leaseUntil = 0
  /** The pass queued to run after `running`: every tick() asked for meanwhile shares it. */
  private queued: Promise<TickSummary> | undefined
  /**
   * How `running` gets its pass: a direct one, or (the server) Nitro's `runTask('vms:reconcile')`,
   * whose task calls `runPass()`. Nitro hands a second caller the run in progress, so a launch
   * counts only once a pass begins after it (`launch`).
   */
  private run: () => Promise<TickSummary> = () => this.runPass()
  /** The launch waiting for a pass to begin; the next pass to begin serves it. */
  private launching: object | undefined
  /** The pass executing now, whoever asked for it. */
  private executing: Promise<TickSummary> | undefined
  private timer: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private written = new Map<string, string>()
  private qemuStates = new Map<string, string>()
  /**
   * Admin consoles open per running VM: VNC_CONNECTED minus VNC_DISCONNECTED, from query-vnc when
   * a VM is adopted.
   */
  private readonly consoles = new Map<string, number>()
  /** VMs this process stopped since the last pass: gone on purpose, not died. */
  private stoppedByUs = new Set<string>()
  /**
   * Desired state as last computed, with the store's generation of its inputs then (file store
   * only): every pass and many API reads ask for it, and it changes only with what an admin writes.
   */
  private desiredMemo: { generation: number; desired: ReturnType<typeof desiredVms> } | undefined
  /** Each running VM as `observe` last found it, with its process's identity (pid and start time). */
  private found = new Map<string, { pid: number; startTicks: number; actual: ActualVm }>()
  private onChange = (c: StoreChange) => {
    this.changesHeard++
    if (c.collection === '*' || DESIRED_INPUTS.has(c.collection)) this.trigger()
  }

  constructor(private ctx: Context) {
    this.rt = {
      runDir: runDir(ctx.config),
      qemu: ctx.config.qemu,
      powerdownTimeoutMs: ctx.config.powerdownTimeoutMs,
      launcher: new Launcher(ctx.config.qemuNice),
      monitors: new Monitors(runDir(ctx.config), (n) => {
        if (n.kind === 'closed') {
          this.qemuStates.delete(n.id)
          // Gone or going: its VNC clients went with it, and a restart is adopted afresh.
          this.consoles.delete(n.id)
          return this.trigger()
        }
        if (n.event.event === 'VNC_CONNECTED') this.consoles.set(n.id, (this.consoles.get(n.id) ?? 0) + 1)
        if (n.event.event === 'VNC_DISCONNECTED') this.consoles.set(n.id, Math.max(0, (this.consoles.get(n.id) ?? 0) - 1))
        if (n.event.event === 'SHUTDOWN') return this.trigger()
        if (n.event.event === 'STOP') this.qemuStates.set(n.id, 'paused')
        if (n.event.event === 'RESUME') this.qemuStates.set(n.id, 'running')
      }),
    }
  }

  consoleCounts(): ReadonlyMap<string, number> {
    return this.consoles
  }

  monitor(id: string) {
    return this.rt.monitors.ensure(id)
  }

  /** `run` runs one pass by way of `runPass()` (the reconcile plugin: through Nitro's task runner). */
  start(run?: () => Promise<TickSummary>) {
    if (run) this.run = run
    this.ctx.store.kv.changes.on('change', this.onChange)
    this.listening = true
    this.timer = setInterval(() => this.trigger(), this.ctx.config.reconcileIntervalMs)
    this.timer.unref()
    this.trigger()
  }

  /** Stops the loop and lets go of the VMs: they keep running, to be adopted by the next start. */
  async stop() {
    this.ctx.store.kv.changes.off('change', this.onChange)
    this.listening = false
    clearInterval(this.timer)
    clearTimeout(this.retryTimer)
    await this.running?.catch(() => {})
    await this.queued?.catch(() => {})
    await this.executing?.catch(() => {})
    // The lease is kept on purpose: this host's VMs run on, and a restart re-adopts them. Another
    // host takes over only once it expires (it does not stop these VMs: fencing comes with placement).
    this.rt.monitors.closeAll()
    this.rt.launcher.close()
  }

  /** Runs a tick now, or right after the one in progress. */
  trigger(): void {
    void this.tick().catch((err) => console.error('[labvirt] reconcile failed:', (err as Error).message))
  }

  /**
   * A pass that starts after this call: now, or once the pass in progress ends (calls meanwhile
   * share that next pass). Never the pass in progress itself: it may have observed the host and
   * the store before the caller's change, and an action answering from it would report stale state
   * (a just-stopped VM still `stopping`).
   */
  tick(): Promise<TickSummary> {
    if (this.queued) return this.queued
    if (!this.running) return this.startPass()
    this.queued = this.running.catch(() => undefined).then(() => {
      this.queued = undefined
      return this.startPass()
    })
    return this.queued
  }

  /**
   * A pass that sees what the caller just wrote to the store: the pass in progress when it began
   * after the last change this process heard (the caller's write, announced once it landed, is what
   * triggered it), or else the next one, as `tick()`. An admin's start then waits for the one pass
   * its own write set off, not for that pass and another after it.
   */
  tickAfterWrite(): Promise<TickSummary> {
    if (this.listening && this.running && !this.queued && this.runningSince === this.changesHeard) return this.running
    return this.tick()
  }

  private startPass(): Promise<TickSummary> {
    this.runningSince = this.changesHeard
    const pass: Promise<TickSummary> = this.launch().finally(() => {
      if (this.running === pass) this.running = undefined
    })
    this.running = pass
    return pass
  }

  /**
   * One pass that begins after this call. The runner may answer with a run another caller started
   * earlier (Nitro's task runner does): then no pass took up this launch, and it asks again.
   */
  private async launch(): Promise<TickSummary> {
    // Twice at most when another caller's pass was executing; the bound stops a runner that never
    // calls runPass() from spinning.
    for (let tries = 0; tries < 5; tries++) {
      const token = {}
      this.launching = token
      const summary = await this.run()
      if (this.launching !== token) return summary
    }
    throw new Error('the reconcile runner answered without running a pass')
  }

  /**
   * Runs one pass now, or shares the one executing: what the `vms:reconcile` task runs, for the
   * reconciler's own launches and for any other caller of the task.
   */
  runPass(): Promise<TickSummary> {
    if (this.executing) return this.executing
    // Begins now, so it serves the launch waiting (if any): that launch was made before this.
    this.launching = undefined
    const end = reconcilePassSeconds.startTimer()
    const pass: Promise<TickSummary> = this.pass()
      .catch((err) => {
        reconcileErrors.inc()
        throw err
      })
      .finally(() => {
        end()
        if (this.executing === pass) this.executing = undefined
      })
    this.executing = pass
    return pass
  }

  async observe(): Promise<ActualVm[]> {
    let files: string[] = []
    try {
      // The run dir is local (as its pidfiles, read in place too): no trip through the thread pool.
      files = readdirSync(this.rt.runDir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const ids = new Set(files.filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)))
    for (const id of this.found.keys()) if (!ids.has(id)) this.found.delete(id)
    const found = await Promise.all([...ids].map(async (id) => {
      const pidfile = vmPaths(this.rt.runDir, id).pidfile
      // The same process as last time: its command line (drives, tap) and start are as they were.
      // A full probe reads two files more and parses the command line: 3.6 ms a pass with 40 VMs.
      const known = this.found.get(id)
      if (known && (await sameProcess(pidfile, known))) return known.actual
      const proc = await probeVm(pidfile)
      if (!proc) return void this.found.delete(id)
      const actual: ActualVm = { id, pid: proc.pid, startedAt: proc.startedAt.toISOString(), drives: drivesOf(proc.argv), tap: tapOf(proc.argv) }
      this.found.set(id, { pid: proc.pid, startTicks: proc.stat.startTicks, actual })
      return actual
    }))
    return found.filter((f) => f !== undefined)
  }

  private async model(): Promise<Model> {
    const s = this.ctx.store
    const [labs, profiles, images, maintenance, manual, versions] = await Promise.all([
      s.labs.list(), s.profiles.list(), s.images.list(), s.maintenance.list(), s.manual.list(), s.versions.list(),
    ])
    return { labs, profiles, images, maintenance, manual, versions }
  }

  /**
   * Desired state as this host computes it, optionally for a changed model (what-if). Shared by
   * every caller until its inputs change: read it, never change it.
   */
  async desired(change?: (m: Model) => Model) {
    const settings = {
      runDir: this.rt.runDir,
      imagesDir: imagesDir(this.ctx.config),
      accel: this.ctx.config.accel,
      forwardAddress: this.ctx.config.forwardAddress,
      qemuUser: this.ctx.config.qemuUser,
    }
    if (change) return desiredVms(change(await this.model()), settings)
    // Taken before the reads: a write landing meanwhile makes what they give stale at once.
    const generation = this.ctx.store.kv.generation(MODEL_COLLECTIONS)
    if (generation !== undefined && this.desiredMemo?.generation === generation) return this.desiredMemo.desired
    const desired = desiredVms(await this.model(), settings)
    if (generation !== undefined) this.desiredMemo = { generation, desired }
    return desired
  }

  private async pass(): Promise<TickSummary> {
    const t0 = performance.now()
    // Until VMs are placed on hosts, one host runs them all: several hosts sharing a Redis store
    // would otherwise each start every seat. The others serve the API and wait for the lease.
    if (!(await this.holdLease())) {
      return { desired: 0, running: 0, started: [], stopping: [], failed: [], ms: performance.now() - t0, standby: true }
    }
    const seen = await this.look()
    const running = new Set(seen.actual.map((a) => a.id))
    const { memory, died } = remember(seen.statuses, new Set([...running, ...this.inflight.keys(), ...this.stoppedByUs]), seen.now)
    const deaths = new Map(await Promise.all(died.map(async (id) => [id, await exitReason(vmPaths(this.rt.runDir, id).log)] as const)))
    // A stop of ours is forgiven once a pass sees the VM gone. Not sooner: a stop that ends while
    // this pass awaits (observe, QMP) leaves the VM in `actual` here, and clearing the mark now
    // would make the next pass count our own stop as a death (a failure, an error on a held VM).
    for (const id of this.stoppedByUs) if (!running.has(id)) this.stoppedByUs.delete(id)
    // A death is written before any restart, so the store (and the live stream) shows the VM down
    // even when this same pass starts it again at once.
    const byId = new Map(seen.statuses.map((s) => [s.id, s]))
    await Promise.all([...deaths].map(([id, reason]) => {
      const { revision, createdAt, updatedAt, pid, qemuState, ...prev } = byId.get(id)! as VmStatus & Partial<RecordMeta>
      const mem = memory.get(id)!
      return this.write({ ...prev, state: 'stopped', failures: mem.failures, retryAt: mem.retryAt, error: reason, lastExit: { at: new Date(seen.now).toISOString(), reason } })
    }))

    const actions = plan({
      desired: seen.desired,
      actual: seen.actual,
      memory,
      held: seen.held,
      connected: seen.connected,
      busy: new Set(this.inflight.keys()),
      unhealthy: seen.unhealthy,
      sessionEnds: seen.sessionEnds,
      now: seen.now,
      restartShare: this.ctx.config.restartShare,
    })
    const { summary, starts } = await this.apply(actions)
    await this.record(seen, memory, deaths, starts)
    summary.desired = seen.desired.length
    summary.running = seen.actual.length
    summary.ms = performance.now() - t0
    return summary
  }

  /**
   * On the file store, renewed once half its time has run out rather than at every pass: one server
   * owns a data directory (its lock), and each renewal is a write and two fsyncs. On a shared store
   * every pass checks it, since the key may have been lost (a flushed Redis) and taken by another.
   */
  private async holdLease(): Promise<boolean> {
    const ttl = Math.max(LEASE_MS, 4 * this.ctx.config.reconcileIntervalMs)
    const now = Date.now()
    if (this.ctx.store.kv.kind === 'fs' && now < this.leaseUntil - ttl / 2) return true
    const held = await holdLease(this.ctx.store.kv, 'reconciler', this.ctx.config.hostId, ttl, now)
    this.leaseUntil = held ? now + ttl : 0
    return held
  }

  /**
   * Observe: desired state, this host's QEMU processes and the store's records. Every running VM
   * gets its monitor (after a LabVirt restart, this re-attaches), and its run state and VNC clients
   * from query-status and query-vnc once; STOP, RESUME and VNC events keep them current after that
   * (an event sent before a reply is counted in the reply, one sent after it is counted on top:
   * QMP keeps them in order on the one connection).
   */
  private async look(): Promise<Observation> {
    const store = this.ctx.store
    const [{ vms: desired, problems }, actual, statuses, holds, connections, readiness, sessionEnds] = await Promise.all([
      this.desired(), this.observe(), store.vms.list(), store.holds.list(), store.connections.list(), store.readiness.list(), store.sessionEnds.list(),
    ])
    // Taken once the host is observed: a death seen now counts its backoff from now, not from
    // when this pass began (which may be before the VM died).
    const now = Date.now()
    await Promise.all(actual.map(async (a) => {
      const known = this.rt.monitors.get(a.id) && this.qemuStates.has(a.id) && this.consoles.has(a.id)
      if (known) return
      const qmp = await this.rt.monitors.ensure(a.id)
      const [st, vnc] = await Promise.all([
        qmp?.execute('query-status', undefined, { timeoutMs: 1000 }).catch(() => undefined),
        qmp?.execute('query-vnc', undefined, { timeoutMs: 1000 }).catch(() => undefined),
      ])
      if (st) this.qemuStates.set(a.id, st.status)
      if (vnc) this.consoles.set(a.id, vnc.clients?.length ?? 0)
    }))
    const startedAt = new Map(actual.map((a) => [a.id, a.startedAt]))
    return {
      desired, problems, actual, statuses, now,
      held: new Set(holds.map((h) => h.id)),
      connected: new Set(connections.map((c) => c.id)),
      // A record of an earlier process of the VM says nothing about this one.
      unhealthy: new Set(readiness.filter((r) => r.restart && startedAt.get(r.id) === r.startedAt).map((r) => r.id)),
      sessionEnds: new Map(sessionEnds.map((s) => [s.id, { began: Date.parse(s.began), ended: Date.parse(s.ended) }])),
    }
  }

  /** Apply: stops and restarts run in the background (tracked in flight), starts in one batch. */
  private async apply(actions: Action[]) {
    const summary: TickSummary = { desired: 0, running: 0, started: [], stopping: [], failed: [], ms: 0 }
    for (const a of actions) {
      if (a.type === 'stop') {
        summary.stopping.push(a.id)
        this.background(a.id, 'stopping', () => stopVm(this.rt, a.id, a.pid, a.reason === 'held' ? 'quit' : 'powerdown'))
      } else if (a.type === 'restart') {
        summary.stopping.push(a.vm.id)
        this.background(a.vm.id, 'stopping', () => stopVm(this.rt, a.vm.id, a.pid, 'quit'))
        const msgid = LOGGED_RESTARTS[a.reason]
        if (msgid) void recordEvent(this.ctx.store, SYSTEM, 'restart', N_('VM'), a.vm.id, undefined, { msgid }).catch((err) => console.error(`[labvirt] ${a.vm.id}: ${(err as Error).message}`))
      }
    }
    const starts = new Map<string, NonNullable<StatusInput['started']>>()
    for (const [id, r] of await startVms(this.rt, actions.flatMap((a) => (a.type === 'start' ? [a.vm] : [])))) {
      if (r.ok) {
        summary.started.push(id)
        starts.set(id, { pid: r.proc.pid, startedAt: r.proc.startedAt.toISOString() })
      } else {
        summary.failed.push(id)
        starts.set(id, { error: r.error })
      }
    }
    return { summary, starts }
  }

  /** Statuses: one record per VM that is desired, running, or was known; written when changed. */
  private async record(seen: Observation, memory: Map<string, VmMemory>, deaths: Map<string, VmMessage>, starts: Map<string, NonNullable<StatusInput['started']>>) {
    const desiredById = new Map(seen.desired.map((d) => [d.id, d]))
    const actualById = new Map(seen.actual.map((a) => [a.id, a]))
    const byId = new Map(seen.statuses.map((s) => [s.id, s]))
    let nextRetry = Infinity
    // Written together: each is its own record (and fsync), so there is no reason to queue them.
    const writes: Promise<void>[] = []
    for (const id of new Set([...desiredById.keys(), ...actualById.keys(), ...byId.keys(), ...seen.problems.filter((p) => p.vm).map((p) => p.id)])) {
      const problem = seen.problems.find((p) => p.id === id)
      const held = seen.held.has(id)
      const status = nextStatus({
        id, host: this.ctx.config.hostId, now: seen.now, held,
        desired: desiredById.get(id), prev: byId.get(id), memory: memory.get(id), actual: actualById.get(id),
        started: starts.get(id), problem: problem && { msgid: problem.msgid, params: problem.params }, problemVm: problem?.vm,
        inflight: this.inflight.get(id)?.state, death: deaths.get(id), qemuState: this.qemuStates.get(id),
      })
      if (!status) {
        if (byId.has(id)) writes.push(this.remove(id))
        continue
      }
      writes.push(this.write(status))
      const retryAt = status.retryAt && !held ? Date.parse(status.retryAt) : 0
      if (retryAt > seen.now) nextRetry = Math.min(nextRetry, retryAt)
    }
    await Promise.all(writes)
    // A backed-off VM is retried when its backoff ends, not at the next regular tick.
    clearTimeout(this.retryTimer)
    if (nextRetry < Infinity) this.retryTimer = setTimeout(() => this.trigger(), Math.max(0, nextRetry - Date.now())).unref()
  }

  private background(id: string, state: 'starting' | 'stopping', op: () => Promise<void>) {
    const done = op()
      .then(() => void this.stoppedByUs.add(id))
      .catch((err) => console.error(`[labvirt] ${id}: ${(err as Error).message}`))
      .finally(() => {
        this.inflight.delete(id)
        this.trigger()
      })
    this.inflight.set(id, { state, done })
  }

  private async write(status: VmStatus) {
    const json = JSON.stringify(status)
    if (this.written.get(status.id) === json) return
    const store = this.ctx.store
    const { id, ...data } = status
    await store.vms.update(id, undefined, () => ({ id, ...data })).catch(async (err) => {
      if (!(err instanceof RecordConflict && err.reason === 'missing')) throw err
      await store.vms.create(id, { id, ...data })
    })
    this.written.set(status.id, json)
  }

  private async remove(id: string) {
    // Its last session ends with it: a VM of that name made later starts with none.
    await Promise.all([this.ctx.store.vms.remove(id).catch(unlessConflict), this.ctx.store.sessionEnds.remove(id).catch(unlessConflict)])
    this.written.delete(id)
    this.qemuStates.delete(id)
    this.consoles.delete(id)
  }

  /** Resolves once no stop of this VM is under way: a pass after it no longer counts it as stopping. */
  async settled(id: string): Promise<void> {
    await this.inflight.get(id)?.done
  }

  /**
   * Runs an admin's stop on a VM now, tracked like the loop's own stops. `before` (the hold) is
   * written with the VM already in flight: the pass that write sets off must leave the VM to this
   * stop (a pass would quit a held VM, where the admin asked for a powerdown).
   */
  async stopNow(id: string, how: StopHow, before?: () => Promise<void>): Promise<void> {
    this.inflight.set(id, { state: 'stopping', done: Promise.resolve() })
    let proc
    try {
      await before?.()
      proc = await probeVm(vmPaths(this.rt.runDir, id).pidfile)
    } finally {
      if (!proc) {
        this.inflight.delete(id)
        this.trigger()
      }
    }
    if (!proc) return
    const { pid } = proc
    this.background(id, 'stopping', () => stopVm(this.rt, id, pid, how))
    await this.inflight.get(id)?.done
  }
}


/**
 * Why a VM exited on its own: the last lines of its QEMU log (-D). A SIGKILL leaves no trace
 * there; another signal, an abort or an I/O error does.
 */
async function exitReason(log: string): Promise<VmMessage> {
  const lines = await qemuLogTail(log)
  return lines ? { msgid: N_('QEMU exited: {output}'), params: { output: hidePaths(lines) } } : { msgid: N_('QEMU exited without a message (killed?)') }
}


let instance: Promise<Reconciler> | undefined

/** This process's reconciler (started by the reconcile plugin). */
export function useReconciler(): Promise<Reconciler> {
  instance ??= useContext().then((ctx) => new Reconciler(ctx))
  return instance
}
