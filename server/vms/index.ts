import { N_ } from '#schemas/msgid'
import type { Maintenance, SeatReadiness, VmActionName, VmConnectionView, VmMessage, VmReadinessView, VmStatus } from '#schemas/vms'
import { DEFAULT_LANGUAGE, type Language, translate } from '../i18n'
import type { Context } from '../context'
import { ConflictError, msg, NotFoundError, type Params } from '../errors'
import { guardRecord, mustGet, unlessConflict } from '../records'
import { type Actor, recordEvent } from '../events'
import type { Reconciler } from '../reconcile'
import type { RecordMeta } from '#storage/repository'
import type { Connection } from '#schemas/terminal-api'
import { monitorOf, qmpFailed } from './monitor'
import { maintenanceVm } from './names'
import { readinessOf } from '../readiness/view'
import { versionFor } from '../profiles/version-model'

const KIND = N_('VM')

/** A VM as the API shows it: its messages in the reader's language, and who is on it. */
export type VmView = Omit<VmStatus, 'error' | 'lastExit'> & VmConnectionView & VmReadinessView & {
  held: boolean
  error?: string
  lastExit?: { at: string; reason: string }
  /** The version of its profile it should run (desired state): a seat whose `version` differs is behind. */
  currentVersion?: number
}

const say = (lang: Language, m: VmMessage) => translate(lang, m.msgid, m.params as Params)

/** A VM desired but without a status record yet (the reconciler has not written it, or is off). */
function notStarted(ctx: Context, d: { id: string; kind: VmStatus['kind']; lab?: string; seat?: number; profile: string; version?: number }): VmStatus {
  return { id: d.id, kind: d.kind, lab: d.lab, seat: d.seat, profile: d.profile, version: d.version, state: 'stopped', host: ctx.config.hostId, failures: 0 }
}

const probing = (ctx: Context) => ctx.config.probeIntervalMs !== undefined

function view({ revision, createdAt, updatedAt, ...v }: VmStatus & Partial<RecordMeta>, held: boolean, on: Connection | undefined, readiness: SeatReadiness | undefined, probing: boolean, lang: Language, currentVersion?: number): VmView {
  const r = readinessOf(v, readiness, probing)
  return {
    ...v,
    currentVersion,
    ready: r.ready,
    readySince: r.readySince,
    unhealthy: r.unhealthy && say(lang, r.unhealthy),
    // After the status: records written before connections had their own collection carry stale copies.
    connected: !!on,
    terminal: on?.terminal ?? on?.address,
    connectedSince: on?.since,
    consoles: on?.consoles ?? 0,
    held,
    error: v.error && say(lang, v.error),
    lastExit: v.lastExit && { at: v.lastExit.at, reason: say(lang, v.lastExit.reason) },
  }
}

/** Every VM this LabVirt knows: desired ones (even if not started yet) and running ones. */
export async function listVms(ctx: Context, reconciler: Reconciler, lang: Language = DEFAULT_LANGUAGE): Promise<VmView[]> {
  const [statuses, holds, connections, readiness, { vms: desired }] = await Promise.all([
    ctx.store.vms.list(), ctx.store.holds.list(), ctx.store.connections.list(), ctx.store.readiness.list(), reconciler.desired(),
  ])
  const held = new Set(holds.map((h) => h.id))
  const on = new Map(connections.map((c) => [c.id, c]))
  const ready = new Map(readiness.map((r) => [r.id, r]))
  const byId = new Map<string, VmStatus & Partial<RecordMeta>>(statuses.map((s) => [s.id, s]))
  for (const d of desired) if (!byId.has(d.id)) byId.set(d.id, notStarted(ctx, d))
  const current = new Map(desired.map((d) => [d.id, d.version]))
  return [...byId.values()].map((v) => view(v, held.has(v.id), on.get(v.id), ready.get(v.id), probing(ctx), lang, current.get(v.id))).sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))
}

/** One VM: its status record, its hold and its connection; desired state only when it has no status yet. */
export async function getVm(ctx: Context, reconciler: Reconciler, id: string, lang: Language = DEFAULT_LANGUAGE) {
  const [status, hold, on, readiness] = await Promise.all([ctx.store.vms.get(id), ctx.store.holds.get(id), ctx.store.connections.get(id), ctx.store.readiness.get(id)])
  // One VM's status is a few reads: desired state (every VM computed) only for one not started yet.
  const desired = status ? undefined : (await reconciler.desired()).vms.find((d) => d.id === id)
  const vm = status ?? (desired && notStarted(ctx, desired))
  if (!vm) throw new NotFoundError(KIND, id)
  const current = desired ? desired.version : await currentVersionOf(ctx, vm)
  return view(vm, !!hold, on ?? undefined, readiness ?? undefined, probing(ctx), lang, current)
}

/**
 * The version a VM with a status should run, from its profile's versions record alone (the canary
 * rule desired.ts applies too); a profile never published runs v1.
 */
async function currentVersionOf(ctx: Context, vm: Pick<VmStatus, 'id' | 'profile'>): Promise<number> {
  const vs = await ctx.store.versions.get(vm.profile)
  return vs ? versionFor(vs, vm.id).version.n : 1
}

/**
 * An admin's action on one VM. `stop`, `powerdown` and `kill` hold it down until `start`, since
 * the reconciler would otherwise start a desired VM again at once; `restart` and `reset` keep it
 * desired.
 */
export async function vmAction(ctx: Context, reconciler: Reconciler, actor: Actor, id: string, action: VmActionName, lang: Language = DEFAULT_LANGUAGE) {
  const vm = await getVm(ctx, reconciler, id)
  const { store } = ctx
  // Whether this action wrote to the store: then the pass its write set off may answer it.
  let wrote = false
  const hold = async () => {
    if (await store.holds.get(id)) return
    await store.holds.create(id, { by: actor.username }).then(() => (wrote = true), unlessConflict)
  }
  switch (action) {
    case 'start':
      // Only what is there to undo is written (each write is an fsync on the file store). An admin's
      // start forgives earlier failures: try again now. The hold goes last, since removing it sets
      // off the pass that starts the VM, and that pass must see the failures forgiven.
      if (vm.failures || vm.retryAt || vm.error) {
        await store.vms.update(id, undefined, (cur) => ({ ...cur, failures: 0, retryAt: undefined, error: undefined })).then(() => (wrote = true), unlessConflict)
      }
      if (vm.held) await store.holds.remove(id).then(() => (wrote = true), unlessConflict)
      break
    case 'stop':
      await reconciler.stopNow(id, 'quit', hold)
      break
    case 'powerdown':
      await reconciler.stopNow(id, 'powerdown', hold)
      break
    case 'kill':
      await reconciler.stopNow(id, 'kill', hold)
      break
    case 'restart':
      await reconciler.stopNow(id, 'quit')
      break
    case 'reset': {
      const qmp = await monitorOf(reconciler, vm)
      await qmp.execute('system_reset').catch((err) => {
        throw qmpFailed(err)
      })
      break
    }
  }
  // Asked for before the event is logged: that is a write too, after which the pass this action's
  // own write set off would no longer count as one that saw it. The event is written meanwhile.
  const pass = wrote ? reconciler.tickAfterWrite() : reconciler.tick()
  await recordEvent(store, actor, action, KIND, id)
  await pass
  return getVm(ctx, reconciler, id, lang)
}

/**
 * Maintenance in exclusive mode (the seed's administrative profile): the profile runs writable on
 * its base image (v1) as `<profile>-maint`. Seats using its images are in the way (QEMU's image lock):
 * refused with 409 naming them, or, with `force`, powered down first and kept down until it ends.
 */
export async function startMaintenance(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string, opts: { force: boolean; lab?: string }) {
  const { store } = ctx
  const profile = await mustGet(store.profiles, N_('profile'), profileId)
  if (opts.lab) await mustGet(store.labs, N_('lab'), opts.lab)
  if (await store.manual.get(maintenanceVm(profile.id))) {
    throw new ConflictError(N_('The maintenance VM "{id}" would have the name of a one-off VM'), { id: maintenanceVm(profile.id) })
  }
  // A published version is never written again: only overlay maintenance changes it.
  const versions = await store.versions.get(profile.id)
  if (versions && versions.currentVersion > 1) {
    throw new ConflictError(N_('v{n} is published and read-only: use overlay maintenance'), { n: versions.currentVersion })
  }
  const maintenance: Maintenance = { profile: profile.id, mode: 'exclusive', lab: opts.lab, by: actor.username }
  // Which running seats would have to go: those desired now but not once maintenance is on.
  const before = (await reconciler.desired()).vms
  const after = new Set((await reconciler.desired((m) => ({ ...m, maintenance: [...m.maintenance, maintenance] }))).vms.map((v) => v.id))
  const running = new Set((await reconciler.observe()).map((a) => a.id))
  const inTheWay = before.filter((v) => !after.has(v.id) && running.has(v.id)).map((v) => v.id)
  if (inTheWay.length && !opts.force) {
    throw new ConflictError(
      N_('Seats {seats} are running on this profile; power them down first or use force'),
      { seats: inTheWay.join(', ') },
      { seats: inTheWay },
    )
  }
  await guardRecord(N_('maintenance'), profile.id, () => store.maintenance.create(profile.id, maintenance))
  const pass = reconciler.tickAfterWrite()
  await recordEvent(store, actor, 'maintenance-start', N_('profile'), profile.id)
  await pass
  return { profile: profile.id, vm: `${profile.id}-maint`, stopping: inTheWay }
}

export async function stopMaintenance(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string) {
  const { store } = ctx
  await mustGet(store.profiles, N_('profile'), profileId)
  const m = await store.maintenance.get(profileId)
  if (!m) {
    throw new ConflictError(N_('The {kind} "{id}" is not in maintenance'), { kind: msg(N_('profile')), id: profileId })
  }
  // Its overlay holds the admin's work: ending it is a choice between keeping it and dropping it.
  if (m.mode === 'overlay') throw new ConflictError(N_('Overlay maintenance ends with publish or discard'))
  // The reconciler powers the writable VM down (ACPI, then quit); seats wait for its image lock.
  await store.maintenance.remove(profileId).catch(unlessConflict)
  const pass = reconciler.tickAfterWrite()
  await recordEvent(store, actor, 'maintenance-stop', N_('profile'), profileId)
  await pass
  return { profile: profileId }
}
