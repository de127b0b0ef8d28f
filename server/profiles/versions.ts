import { N_ } from '#schemas/msgid'
import { randomBytes } from 'node:crypto'
import { chmod, realpath, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Stored } from '#storage'
import type { Maintenance } from '#schemas/vms'
import type { ProfileVersions, Version } from '#schemas/versions'
import type { Profile } from '#schemas/profiles'
import { imagesDir } from '../config'
import type { Context } from '../context'
import { ConflictError, DomainError, msg, ValidationError } from '../errors'
import { guardRecord, mustGet, unlessConflict } from '../records'
import { type Actor, recordEvent, SYSTEM } from '../events'
import type { Reconciler } from '../reconcile'
import { convertWithProgress, createLinked, imageInfo } from '../qemu/img'
import { imageFile } from '../images/files'
import { qemuImg } from '../images/index'
import { noSpace, spaceLeft, writeNewFile } from '../images/place'
import { startJob } from '../jobs/index'
import { maintenanceVm } from '../vms/names'
import { currentOf, overlayFile, sweepVersions, versionFile, versionsOf } from './version-model'

const PROFILE = N_('profile')
// An overlay starts as a qcow2 header and tables: this much room is asked for it.
const OVERLAY_BYTES = 16 * 2 ** 20
// Published versions are never written again (QEMU and qemu-img open them read-only).
const VERSION_MODE = 0o444

/** A profile's versions: its record, or v1 read from its system disk; 409 when it has none. */
async function versionsFor(ctx: Context, profile: Stored<Profile>): Promise<ProfileVersions> {
  const [stored, images] = await Promise.all([ctx.store.versions.get(profile.id), ctx.store.images.list()])
  const vs = versionsOf(profile, stored, new Map(images.map((i) => [i.id, i])))
  if (!vs || !['qcow2', 'raw'].includes(currentOf(vs).format)) {
    throw new ConflictError(N_('The {kind} "{id}" has no qcow2 or raw system disk'), { kind: msg(PROFILE), id: profile.id })
  }
  return vs
}

async function fileOf(ctx: Context, file: string) {
  const found = await imageFile(imagesDir(ctx.config), file)
  if ('problem' in found) throw new ConflictError(N_('The file "{file}" of this version is missing'), { file })
  return found.path
}

/** `GET /api/profiles/:id/versions`: every version, which is current, and which VMs run each. */
export async function listVersions(ctx: Context, id: string) {
  const profile = await mustGet(ctx.store.profiles, PROFILE, id)
  const [vs, vms, maintenance] = await Promise.all([versionsFor(ctx, profile), ctx.store.vms.list(), ctx.store.maintenance.get(id)])
  const on = (n: number) => vms.filter((v) => v.profile === id && v.kind === 'seat' && v.version === n && v.state !== 'stopped' && v.state !== 'failed').map((v) => v.id)
  return {
    profile: id,
    currentVersion: vs.currentVersion,
    moveNow: vs.moveNow,
    canary: vs.canary,
    versions: vs.versions.map((v) => ({ ...v, current: v.n === vs.currentVersion, seats: on(v.n) })).reverse(),
    maintenance: maintenance && { mode: maintenance.mode, base: maintenance.base, by: maintenance.by, state: maintenance.state ?? 'running' },
  }
}

/**
 * Overlay maintenance: `<profile>-maint` runs writable on a new qcow2 over the current version,
 * which it opens read-only like the seats' snapshot disks, so the seats keep running meanwhile.
 */
export async function startOverlay(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string, opts: { lab?: string }) {
  const { store, config } = ctx
  const profile = await mustGet(store.profiles, PROFILE, profileId)
  if (opts.lab) await mustGet(store.labs, N_('lab'), opts.lab)
  const vm = maintenanceVm(profile.id)
  if (await store.manual.get(vm)) throw new ConflictError(N_('The maintenance VM "{id}" would have the name of a one-off VM'), { id: vm })
  if (await store.maintenance.get(profile.id)) throw new ConflictError(N_('The {kind} "{id}" is already in maintenance'), { kind: msg(PROFILE), id: profile.id })
  const base = currentOf(await versionsFor(ctx, profile))
  const basePath = await fileOf(ctx, base.image)
  const left = await spaceLeft(config)
  if (OVERLAY_BYTES > left) throw noSpace(config, OVERLAY_BYTES, left)
  const overlay = overlayFile(profile.id, randomBytes(4).toString('hex'))
  const path = join(imagesDir(config), overlay)
  await qemuImg(() => createLinked(basePath, base.format, path))
  const maintenance: Maintenance = { profile: profile.id, mode: 'overlay', lab: opts.lab, by: actor.username, overlay, base: base.n, state: 'running' }
  try {
    await guardRecord(N_('maintenance'), profile.id, () => store.maintenance.create(profile.id, maintenance))
  } catch (err) {
    await rm(path, { force: true })
    throw err
  }
  await recordEvent(store, actor, 'maintenance-start', PROFILE, profile.id, undefined, { msgid: N_('Overlay maintenance on v{n}'), params: { n: base.n } })
  await reconciler.tick()
  return { profile: profile.id, vm, mode: 'overlay' as const, base: base.n, stopping: [] as string[] }
}

async function overlayMaintenance(ctx: Context, profileId: string): Promise<Stored<Maintenance> & { overlay: string; base: number }> {
  const m = await ctx.store.maintenance.get(profileId)
  if (!m || m.mode !== 'overlay' || !m.overlay || m.base === undefined) {
    throw new ConflictError(N_('The {kind} "{id}" is not in overlay maintenance'), { kind: msg(PROFILE), id: profileId })
  }
  return m as Stored<Maintenance> & { overlay: string; base: number }
}

// A publish job of this profile still under way: its overlay is in use.
async function publishing(ctx: Context, profileId: string) {
  const jobs = await ctx.store.jobs.list()
  return jobs.some((j) => j.kind === 'publish' && j.target === profileId && (j.state === 'queued' || j.state === 'running'))
}

/**
 * Moves maintenance to `state`, refused (409) when another request changed it since it read
 * `from`. A publish names the file it writes (`next`), for a restart to remove.
 */
async function setState(ctx: Context, profileId: string, state: NonNullable<Maintenance['state']>, from?: Maintenance['state'], next?: string) {
  await guardRecord(N_('maintenance'), profileId, () => ctx.store.maintenance.update(profileId, undefined, (cur) => {
    if (from !== undefined && (cur.state ?? 'running') !== from) throw new ConflictError(N_('The maintenance of "{id}" is being published or discarded'), { id: profileId })
    return { ...cur, state, next }
  }))
}

/**
 * Waits for the maintenance VM to be gone once it is no longer desired: the reconciler powers it
 * down (ACPI, then quit after LABVIRT_POWERDOWN_TIMEOUT).
 */
async function powerDown(ctx: Context, reconciler: Reconciler, profileId: string, signal?: AbortSignal) {
  const id = maintenanceVm(profileId)
  const deadline = Date.now() + ctx.config.powerdownTimeoutMs + 30_000
  for (;;) {
    await reconciler.tick()
    if (signal?.aborted) return
    // Gone, and its stop over: the stop's own clean-up may outlast the process by a poll, and a
    // pass meanwhile would still show the VM as stopping.
    if (!(await reconciler.observe()).some((a) => a.id === id)) return reconciler.settled(id)
    if (Date.now() > deadline) throw new DomainError(503, 'maintenance_vm_up', N_('The maintenance VM "{id}" did not power down'), { id })
    await sleep(250)
  }
}

/**
 * `publish`: the maintenance VM powers down, then base + overlay become the next version, one
 * flattened read-only file (a job with progress); it becomes current. With `force`, idle seats
 * move to it at once, the others as their terminals leave; without, each at its next restart.
 */
export async function publish(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string, opts: { note: string; force: boolean; canary?: string }) {
  const { store, config } = ctx
  const profile = await mustGet(store.profiles, PROFILE, profileId)
  const m = await overlayMaintenance(ctx, profileId)
  if (m.state === 'discarding' || (await publishing(ctx, profileId))) {
    throw new ConflictError(N_('The maintenance of "{id}" is being published or discarded'), { id: profileId })
  }
  const vs = await versionsFor(ctx, profile)
  if (opts.canary && !(await reconciler.desired()).vms.some((v) => v.id === opts.canary && v.kind === 'seat' && v.profile === profileId)) {
    throw new ValidationError([{ field: 'canary', message: N_('No seat "{id}" runs this profile'), params: { id: opts.canary } }])
  }
  const base = vs.versions.find((v) => v.n === m.base)
  if (!base) throw new ConflictError(N_('The file "{file}" of this version is missing'), { file: `v${m.base}` })
  const overlayPath = await fileOf(ctx, m.overlay)
  const basePath = await fileOf(ctx, base.image)
  // Never a number used before, even by a version the clean-up deleted.
  const n = Math.max(vs.lastVersion ?? 0, ...vs.versions.map((v) => v.n)) + 1
  const file = versionFile(profileId, n, randomBytes(4).toString('hex'))
  const taken = await imageFile(imagesDir(config), file)
  if (!('problem' in taken) || taken.problem !== 'missing') throw new ConflictError(N_('The file "{file}" already exists in the images directory'), { file })
  // A flattened copy holds at most what the base and the overlay hold together.
  const [baseInfo, overlayInfo] = await Promise.all([qemuImg(() => imageInfo(basePath)), qemuImg(() => imageInfo(overlayPath))])
  const needed = baseInfo.actualSize + overlayInfo.actualSize
  const left = await spaceLeft(config)
  if (needed > left) throw noSpace(config, needed, left)

  await setState(ctx, profileId, 'publishing', m.state ?? 'running', file)
  await recordEvent(store, actor, 'publish-start', PROFILE, profileId, undefined, { msgid: N_('Publishing v{n}: {note}'), params: { n, note: opts.note } })
  return startJob(ctx, actor, 'publish', profileId, async (run) => {
    let placed = false
    let done = false
    try {
      await powerDown(ctx, reconciler, profileId, run.signal)
      if (run.signal.aborted) return 'cancelled'
      const written = await writeNewFile(imagesDir(config), run, file, async (tmp) => {
        if ((await qemuImg(() => convertWithProgress(overlayPath, 'qcow2', tmp, run.progress, run.signal))) === 'cancelled') return 'cancelled'
        await chmod(tmp, VERSION_MODE)
      })
      if (written === 'cancelled') return 'cancelled'
      placed = true
      const version: Version = { n, image: file, format: 'qcow2', createdAt: new Date().toISOString(), createdBy: actor.username, note: opts.note, parent: base.n }
      await store.versions.upsert(profileId, (cur) => {
        const now = cur ?? vs
        const versions = [...now.versions, version]
        // A canary: the other seats stay where they are; a new publish replaces an earlier canary.
        if (opts.canary) return { currentVersion: now.currentVersion, moveNow: now.moveNow, versions, lastVersion: n, canary: { seat: opts.canary, version: n } }
        return { currentVersion: n, moveNow: opts.force, versions, lastVersion: n }
      })
      done = true
      await store.maintenance.remove(profileId).catch(unlessConflict)
      await rm(overlayPath, { force: true })
      const message: { msgid: string; params: Record<string, string | number> } = opts.canary
        ? { msgid: N_('Published v{n} to the canary {seat}: {note}'), params: { n, seat: opts.canary, note: opts.note } }
        : { msgid: N_('Published v{n}: {note}'), params: { n, note: opts.note } }
      await recordEvent(store, actor, 'publish', PROFILE, profileId, undefined, message)
      return 'done'
    } finally {
      // Not published (failed, cancelled): no half-made version; the admin's work goes on in the maintenance VM.
      if (!done) {
        if (placed) await rm(join(imagesDir(config), file), { force: true })
        await setState(ctx, profileId, 'running').catch(() => {})
      }
    }
  })
}

/**
 * At start, after the interrupted jobs failed: a publish cut short goes back to maintenance (its
 * next version's file, if it got that far, removed: it was never made current), a discard is
 * finished.
 */
export async function resumeMaintenance(ctx: Context) {
  const { store } = ctx
  const dir = imagesDir(ctx.config)
  for (const m of await store.maintenance.list()) {
    if (m.state === 'publishing') {
      const made = (await store.versions.get(m.profile))?.versions.some((v) => v.image === m.next)
      if (m.next && !made) await rm(join(dir, m.next), { force: true })
      await setState(ctx, m.profile, 'running')
      await recordEvent(store, SYSTEM, 'publish-failed', PROFILE, m.profile, undefined, { msgid: N_('LabVirt restarted during the publish; maintenance goes on') })
    } else if (m.state === 'discarding') {
      if (m.overlay) await rm(join(dir, m.overlay), { force: true })
      await store.maintenance.remove(m.profile).catch(unlessConflict)
      await recordEvent(store, SYSTEM, 'maintenance-discard', PROFILE, m.profile, undefined, { msgid: N_('Discarded the changes made on v{n}'), params: { n: m.base ?? 1 } })
    }
  }
}

/** `discard`: the maintenance VM powers down and its overlay goes; the current version is untouched. */
export async function discard(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string) {
  const { store } = ctx
  await mustGet(store.profiles, PROFILE, profileId)
  const m = await overlayMaintenance(ctx, profileId)
  if (await publishing(ctx, profileId)) throw new ConflictError(N_('The maintenance of "{id}" is being published or discarded'), { id: profileId })
  await setState(ctx, profileId, 'discarding', m.state ?? 'running')
  await powerDown(ctx, reconciler, profileId)
  await rm(join(imagesDir(ctx.config), m.overlay), { force: true })
  await store.maintenance.remove(profileId).catch(unlessConflict)
  await recordEvent(store, actor, 'maintenance-discard', PROFILE, profileId, undefined, { msgid: N_('Discarded the changes made on v{n}'), params: { n: m.base } })
  await reconciler.tick()
  return { profile: profileId }
}

/**
 * `rollback`: with a canary, the canary goes back to the current version; without, the version
 * the current one was made from is current again. Either way idle seats move at once.
 */
export async function rollback(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string) {
  const { store } = ctx
  const profile = await mustGet(store.profiles, PROFILE, profileId)
  const vs = await versionsFor(ctx, profile)
  const current = currentOf(vs)
  if (vs.canary) {
    const { canary: _, ...rest } = vs
    await store.versions.upsert(profileId, (cur) => ({ ...rest, ...(cur && { versions: cur.versions }), currentVersion: current.n, moveNow: true }))
    await recordEvent(store, actor, 'rollback', PROFILE, profileId, undefined, { msgid: N_('Withdrew the canary v{n} from {seat}'), params: { n: vs.canary.version, seat: vs.canary.seat } })
    await reconciler.tick()
    return { profile: profileId, currentVersion: current.n }
  }
  const parent = vs.versions.find((v) => v.n === current.parent)
  if (!parent) throw new ConflictError(N_('v{n} has no earlier version to roll back to'), { n: current.n })
  await fileOf(ctx, parent.image)
  await store.versions.upsert(profileId, (cur) => ({ ...(cur ?? vs), currentVersion: parent.n, moveNow: true }))
  await recordEvent(store, actor, 'rollback', PROFILE, profileId, undefined, { msgid: N_('Rolled back from v{from} to v{to}'), params: { from: current.n, to: parent.n } })
  await reconciler.tick()
  return { profile: profileId, currentVersion: parent.n }
}

/** `promote`: the canary's version becomes current for every seat (at once with `force`, else at their next restart). */
export async function promote(ctx: Context, reconciler: Reconciler, actor: Actor, profileId: string, opts: { force: boolean }) {
  const { store } = ctx
  const profile = await mustGet(store.profiles, PROFILE, profileId)
  const { canary, ...vs } = await versionsFor(ctx, profile)
  if (!canary) throw new ConflictError(N_('The {kind} "{id}" has no canary to promote'), { kind: msg(PROFILE), id: profileId })
  await store.versions.upsert(profileId, (cur) => ({ versions: (cur ?? vs).versions, lastVersion: (cur ?? vs).lastVersion, currentVersion: canary.version, moveNow: opts.force }))
  await recordEvent(store, actor, 'promote', PROFILE, profileId, undefined, { msgid: N_('Promoted v{n} from the canary {seat} to every seat'), params: { n: canary.version, seat: canary.seat } })
  await reconciler.tick()
  return { profile: profileId, currentVersion: canary.version }
}

/**
 * The clean-up (a scheduled task): a version that no VM runs, no overlay or file is backed by,
 * and that is neither current, the one before it nor a canary's, is deleted once it has been
 * unused for LABVIRT_VERSION_GRACE. Returns the files deleted.
 */
export async function cleanVersions(ctx: Context, now = Date.now()): Promise<string[]> {
  const { store, config } = ctx
  const dir = imagesDir(config)
  const [records, vms, maintenance, images] = await Promise.all([store.versions.list(), store.vms.list(), store.maintenance.list(), store.images.list()])
  // The files other qcow2 files read through (linked clones, overlays): never deleted under them.
  // Backing paths are written as real paths (server/images/files.ts).
  const root = await realpath(dir).catch(() => dir)
  const backing = new Set<string>()
  for (const file of [...images.filter((i) => i.format === 'qcow2').map((i) => i.file), ...maintenance.flatMap((m) => (m.overlay ? [m.overlay] : []))]) {
    const found = await imageFile(dir, file)
    if ('problem' in found) continue
    const info = await imageInfo(found.path).catch(() => undefined)
    const full = info?.fullBackingFile ?? info?.backingFile
    if (full && [dir, root].includes(dirname(resolve(dir, full)))) backing.add(basename(full))
  }
  const kept = new Set(images.map((i) => i.file))
  const deleted: string[] = []
  for (const record of records) {
    let dropped: Version[] = []
    await store.versions.upsert(record.id, (cur) => {
      if (!cur) return undefined
      const inUse = new Set([
        ...vms.filter((v) => v.profile === cur.id && v.version !== undefined && v.pid).map((v) => v.version!),
        ...maintenance.filter((m) => m.profile === cur.id && m.base !== undefined).map((m) => m.base!),
        ...cur.versions.filter((v) => backing.has(v.image)).map((v) => v.n),
      ])
      const swept = sweepVersions(cur, inUse, kept, now, config.versionGraceMs)
      dropped = swept.dropped
      return JSON.stringify(swept.next.versions) === JSON.stringify(cur.versions) ? undefined : swept.next
    })
    for (const v of dropped) {
      await rm(join(dir, v.image), { force: true })
      deleted.push(v.image)
      await recordEvent(store, SYSTEM, 'delete', N_('version'), `${record.id}.v${v.n}`, undefined, { msgid: N_('Deleted v{n} of {profile}, unused since {since}'), params: { n: v.n, profile: record.id, since: v.unusedSince! } })
    }
  }
  return deleted
}
