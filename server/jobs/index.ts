import { N_ } from '#schemas/msgid'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stored } from '#storage'
import type { Job, JobKind, JobState } from '#schemas/jobs'
import { imagesDir } from '../config'
import type { Context } from '../context'
import { ConflictError, type Msg } from '../errors'
import { mustGet } from '../records'
import { isTempName } from '../images/place'
import { type Actor, recordEvent, SYSTEM } from '../events'
import { DEFAULT_LANGUAGE, type Language, translate } from '../i18n'

export const KIND = N_('job')
/** Progress is written at most this often: each write is a store change and a stream message. */
export const PROGRESS_MS = 250
const STEP_PCT = 10
/** The event a job's start writes, per kind. */
const STARTED: Record<JobKind, string> = {
  'clone-full': N_('Full clone into the profile {target}'),
  'clone-linked': N_('Linked clone into the profile {target}'),
  publish: N_('Publish of a new version of {target}'),
}

export type JobView = Omit<Stored<Job>, 'error'> & { error?: string }

// The jobs this process runs, so a cancel can stop them (and its job say who did); a job of another
// process is not ours to stop.
const running = new Map<string, { abort: AbortController; cancelledBy?: Actor }>()

export const jobView = ({ error, ...job }: Stored<Job>, lang: Language): JobView => (error ? { ...job, error: translate(lang, error.msgid, error.params) } : job)

export async function listJobs(ctx: Context, lang: Language = DEFAULT_LANGUAGE): Promise<JobView[]> {
  const jobs = await ctx.store.jobs.list()
  return jobs.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id)).map((j) => jobView(j, lang))
}

export const getJob = async (ctx: Context, id: string, lang: Language = DEFAULT_LANGUAGE) => jobView(await mustGet(ctx.store.jobs, KIND, id), lang)

/** What a job's work gets: its id, a cancel signal, and a throttled progress report. */
export interface JobRun {
  id: string
  signal: AbortSignal
  progress(pct: number): void
  /** Names the temporary file to remove should this process die mid-job. */
  partial(file: string): Promise<void>
}

/**
 * Records a queued job and runs `work` in this process. `work` resolves when done (the job
 * succeeds), resolves `cancelled`, or throws: a DomainError's message becomes the job's error.
 */
export async function startJob(ctx: Context, actor: Actor, kind: JobKind, target: string, work: (run: JobRun) => Promise<'done' | 'cancelled'>): Promise<Stored<Job>> {
  // A Name (starts with a letter), so `/api/jobs/:id` reads it like every other id.
  const id = `job-${randomBytes(6).toString('hex')}`
  const job = await ctx.store.jobs.create(id, { kind, state: 'queued', progress: 0, target, createdBy: actor.username, host: ctx.config.hostId })
  await recordEvent(ctx.store, actor, 'start', KIND, id, job.revision, { msgid: STARTED[kind], params: { target } })
  const abort = new AbortController()
  const entry: { abort: AbortController; cancelledBy?: Actor } = { abort }
  running.set(id, entry)
  let last = 0
  let written = 0
  let pending: number | undefined
  let writes: Promise<unknown> = Promise.resolve()
  // Progress alone is written without fsync: it is not worth a flush (on ext4 each one also
  // flushes the file the job is writing); the job's state and partial file are durable.
  const write = (change: Partial<Job>, durable = true) => {
    writes = writes.then(() => ctx.store.jobs.update(id, undefined, (cur) => ({ ...cur, ...change }), { durable })).catch((err) => console.error(`[labvirt] job ${id}:`, err))
    return writes
  }
  const run: JobRun = {
    id,
    signal: abort.signal,
    progress(pct) {
      pending = Math.max(0, Math.min(100, pct))
      // At most every PROGRESS_MS, but every tenth of the way too: a quick copy still shows its bar move.
      if (Date.now() - last < PROGRESS_MS && pending - written < STEP_PCT) return
      last = Date.now()
      written = pending
      void write({ progress: pending }, false)
    },
    partial: (file) => write({ partial: file }).then(() => {}),
  }
  void (async () => {
    let state: JobState = 'succeeded'
    let error: Job['error']
    try {
      await write({ state: 'running' })
      if ((await work(run)) === 'cancelled') state = 'cancelled'
    } catch (err) {
      state = 'failed'
      const m = err as Partial<Msg> & { params?: Record<string, unknown> }
      error = typeof m.msgid === 'string' ? { msgid: m.msgid, params: flat(m.params) } : { msgid: N_('The job failed: {error}'), params: { error: String((err as Error).message) } }
      if (typeof m.msgid !== 'string') console.error(`[labvirt] job ${id} failed:`, err)
    } finally {
      running.delete(id)
    }
    const done = await write({ state, error, progress: state === 'succeeded' ? 100 : pending ?? 0, finishedAt: new Date().toISOString(), partial: undefined })
    await recordEvent(ctx.store, state === 'cancelled' ? entry.cancelledBy ?? SYSTEM : actor, state, KIND, id, (done as Stored<Job> | undefined)?.revision)
  })()
  return job
}

// Job errors keep only plain params: a nested Msg would not survive the store's JSON as one.
function flat(params: Record<string, unknown> = {}) {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => typeof v === 'string' || typeof v === 'number')) as Record<string, string | number>
}

/** Stops a running job of this process; the job itself records that it was cancelled. */
export async function cancelJob(ctx: Context, actor: Actor, id: string, lang: Language = DEFAULT_LANGUAGE) {
  const job = await mustGet(ctx.store.jobs, KIND, id)
  if ((job.state === 'queued' || job.state === 'running') && job.host && job.host !== ctx.config.hostId) {
    throw new ConflictError(N_('The job "{id}" runs on host {host}: cancel it there'), { id, host: job.host })
  }
  const entry = running.get(id)
  if (!entry) throw new ConflictError(N_('The job "{id}" is not running here ({state})'), { id, state: job.state })
  entry.cancelledBy = actor
  entry.abort.abort()
  return jobView(job, lang)
}

/**
 * At start: no job of an earlier run of this host's process can still be running, so a queued or
 * running one failed, and its temporary file goes. Another host's jobs (a shared store) are its own.
 */
export async function failInterrupted(ctx: Context) {
  for (const job of await ctx.store.jobs.list()) {
    if (job.state !== 'queued' && job.state !== 'running') continue
    if (job.host && job.host !== ctx.config.hostId) continue
    if (job.partial && isTempName(job.partial)) await rm(join(imagesDir(ctx.config), job.partial), { force: true })
    const done = await ctx.store.jobs.update(job.id, undefined, (cur) => ({
      ...cur,
      state: 'failed' as const,
      error: { msgid: N_('LabVirt restarted during the job') },
      partial: undefined,
      finishedAt: new Date().toISOString(),
    }))
    await recordEvent(ctx.store, SYSTEM, 'failed', KIND, job.id, done.revision)
  }
}
