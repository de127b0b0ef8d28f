import { N_ } from '#schemas/msgid'
import type { CheckResult } from '#schemas/host-checks'
import { execa } from 'execa'
import type { Context } from '../context'
import { imagesDir } from '../config'
import { imageFile } from '../images/files'
import { gib, spaceLeft } from '../images/place'
import { kvmUsable } from '../qemu/accel'
import { checkImage, qemuImgCommand } from '../qemu/img'
import { unreachableLabs } from '../readiness/index'

type Outcome = Pick<CheckResult, 'level' | 'message'>
type Check = (ctx: Context) => Promise<Outcome>

/** Free space beyond the upload reserve: below the reserve uploads are refused already (images/place.ts). */
export const disk: Check = async ({ config }) => {
  const left = await spaceLeft(config)
  const params = { left: gib(Math.max(0, left)), reserve: gib(config.diskReserveBytes) }
  if (left < 0) return { level: 'error', message: { msgid: N_('The data directory has less free space than the reserve of {reserve} GiB: uploads are refused'), params } }
  if (left < config.diskReserveBytes) return { level: 'warning', message: { msgid: N_('The data directory is nearly full: {left} GiB left above the reserve of {reserve} GiB'), params } }
  return { level: 'ok', message: { msgid: N_('{left} GiB free above the reserve'), params } }
}

export const store: Check = async ({ store }) => {
  try {
    await store.kv.ping()
    return { level: 'ok', message: { msgid: N_('The store answers') } }
  } catch {
    return { level: 'error', message: { msgid: N_('The store does not answer') } }
  }
}

async function answersVersion(command: string) {
  const r = await execa(command, ['--version'], { reject: false, timeout: 10_000 })
  return r.exitCode === 0
}

export const qemu: Check = async ({ config }) => {
  for (const command of [config.qemu, qemuImgCommand()]) {
    if (!(await answersVersion(command))) return { level: 'error', message: { msgid: N_('{command} is missing or does not run'), params: { command } } }
  }
  return { level: 'ok', message: { msgid: N_('QEMU and qemu-img run') } }
}

/** Without KVM VMs still run, under TCG: slow, so a warning. */
export const kvm: Check = async () =>
  kvmUsable() ? { level: 'ok', message: { msgid: N_('KVM is usable') } } : { level: 'warning', message: { msgid: N_('/dev/kvm cannot be opened: VMs run under TCG, slowly') } }

/** Seats the probes cannot reach (this host has no address on their lab's network) count as ready once running. */
export const seats: Check = async () => {
  const labs = unreachableLabs()
  if (labs.length) return { level: 'warning', message: { msgid: N_('This host cannot reach the seats of {labs} (no address on their network): they count as ready once running'), params: { labs: labs.join(', ') } } }
  return { level: 'ok', message: { msgid: N_('The seats this host runs are probed on their port') } }
}

/**
 * `qemu-img check` of every qcow2 the seats boot: the images and the profiles' versions. One at a
 * time (each reads the file's tables), so nightly (`host:images`) rather than every minute.
 */
export const images: Check = async (ctx): Promise<Outcome> => {
  const dir = imagesDir(ctx.config)
  const [records, versions] = await Promise.all([ctx.store.images.list(), ctx.store.versions.list()])
  const files = new Set([...records.filter((i) => i.format === 'qcow2').map((i) => i.file), ...versions.flatMap((r) => r.versions.filter((v) => v.format === 'qcow2').map((v) => v.image))])
  const damaged: string[] = []
  const leaking: string[] = []
  let checked = 0
  for (const file of [...files].sort()) {
    const found = await imageFile(dir, file)
    if ('problem' in found) continue
    const r = await checkImage(found.path)
    checked++
    if (r.corruptions || r.errors) damaged.push(`${file} (${r.corruptions + r.errors})`)
    else if (r.leaks) leaking.push(file)
  }
  if (damaged.length) return { level: 'error', message: { msgid: N_('qemu-img check finds errors in {files}: restore them from a copy'), params: { files: damaged.join(', ') } } }
  if (leaking.length) return { level: 'warning', message: { msgid: N_('qemu-img check finds leaked clusters in {files} (space only; qemu-img check -r leaks reclaims it)'), params: { files: leaking.join(', ') } } }
  return { level: 'ok', message: { msgid: N_('{n} image files checked, no errors'), params: { n: checked } } }
}

/** The checks the `host:checks` task runs every minute. */
export const HOST_CHECKS: Record<string, Check> = { disk, store, qemu, kvm, seats }
/** The slow ones, run nightly by `host:images` (and when an admin asks for every check). */
export const NIGHTLY_CHECKS: Record<string, Check> = { images }
const ALL_CHECKS: Record<string, Check> = { ...HOST_CHECKS, ...NIGHTLY_CHECKS }

/**
 * Runs the checks and records them as this host's in the store (with its other checks' last
 * results); one that throws is reported as an error rather than failing the run.
 */
export async function runChecks(ctx: Context, ids = Object.keys(HOST_CHECKS)): Promise<CheckResult[]> {
  const results = await Promise.all(
    ids.map(async (id): Promise<CheckResult> => {
      let outcome: Outcome
      try {
        outcome = await ALL_CHECKS[id]!(ctx)
      } catch (err) {
        outcome = { level: 'error', message: { msgid: N_('The check failed: {error}'), params: { error: String((err as Error).message ?? err) } } }
      }
      return { id, ok: outcome.level === 'ok', ...outcome, checkedAt: new Date().toISOString() }
    }),
  )
  // A store that does not answer is one of the results: the run still returns them.
  await ctx.store.hostChecks
    .upsert(ctx.config.hostId, (cur) => ({ checks: merged(cur?.checks ?? [], results) }))
    .catch((err) => console.error('[labvirt] host checks not recorded:', (err as Error).message))
  return results
}

/** `prev` with `results` in place of the same checks, in the order of ALL_CHECKS. */
function merged(prev: CheckResult[], results: CheckResult[]): CheckResult[] {
  const byId = new Map([...prev, ...results].map((c) => [c.id, c]))
  return Object.keys(ALL_CHECKS).flatMap((id) => byId.get(id) ?? [])
}

/** A result older than this is run again when asked for (a process whose scheduled tasks are off, as under test). */
const FRESH_MS = 90_000
/** Another host whose checks were not written for this long (three of its minute runs) is shown stale. */
export const STALE_MS = 180_000

export interface HostCheckList {
  host: string
  local: boolean
  /** Its checks were not written for STALE_MS: the host may be down, its results are old. */
  stale: boolean
  updatedAt?: string
  checks: CheckResult[]
}

/**
 * Every host's checks as last run, this host first; this host's minute checks are run now when
 * they never ran or are stale. A nightly check is shown once it has run. What /api/health shows.
 */
export async function latestChecks(ctx: Context, now = Date.now()): Promise<HostCheckList[]> {
  const self = ctx.config.hostId
  const records = await ctx.store.hostChecks.list().catch(() => [])
  let mine = records.find((r) => r.id === self)?.checks ?? []
  const old = Object.keys(HOST_CHECKS).filter((id) => {
    const r = mine.find((c) => c.id === id)
    return !r || now - Date.parse(r.checkedAt) > FRESH_MS
  })
  if (old.length) mine = merged(mine, await runChecks(ctx, old))
  const others = records
    .filter((r) => r.id !== self)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((r) => ({ host: r.id, local: false, stale: now - Date.parse(r.updatedAt) > STALE_MS, updatedAt: r.updatedAt, checks: r.checks }))
  return [{ host: self, local: true, stale: false, checks: mine }, ...others]
}
