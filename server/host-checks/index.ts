import { N_ } from '#schemas/msgid'
import { execa } from 'execa'
import type { Context } from '../context'
import { imagesDir } from '../config'
import { imageFile } from '../images/files'
import { gib, spaceLeft } from '../images/place'
import { kvmUsable } from '../qemu/accel'
import { checkImage, qemuImgCommand } from '../qemu/img'
import { unreachableLabs } from '../readiness/index'

export type CheckLevel = 'ok' | 'warning' | 'error'

/** One host check's last result; `message` is a msgid and params, translated for each reader. */
export interface CheckResult {
  id: string
  ok: boolean
  level: CheckLevel
  message: { msgid: string; params?: Record<string, string | number> }
  checkedAt: string
}

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

/** Runs the checks; one that throws is reported as an error rather than failing the run. */
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
  for (const r of results) last.set(r.id, r)
  return results
}

/** Each check's last result in this process (the scheduled `host:checks` task runs them every minute). */
const last = new Map<string, CheckResult>()
/** A result older than this is run again when asked for (a process whose scheduled tasks are off, as under test). */
const FRESH_MS = 90_000

/**
 * The checks as last run, running now the minute ones never run or gone stale: what /api/health
 * shows. A nightly check is shown once it has run.
 */
export async function latestChecks(ctx: Context): Promise<CheckResult[]> {
  const stale = Object.keys(HOST_CHECKS).filter((id) => {
    const r = last.get(id)
    return !r || Date.now() - Date.parse(r.checkedAt) > FRESH_MS
  })
  if (stale.length) await runChecks(ctx, stale)
  return Object.keys(ALL_CHECKS).flatMap((id) => last.get(id) ?? [])
}
