import * as v from 'valibot'
import { ImageName } from './images'

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const
export type JobState = (typeof JOB_STATES)[number]
/** What a job does: a profile's full or linked clone, or the publish of a profile's next version. */
export const JOB_KINDS = ['clone-full', 'clone-linked', 'publish'] as const
export type JobKind = (typeof JOB_KINDS)[number]

/** Long work run in this process (a clone, a publish), as the store keeps it. */
export interface Job {
  kind: JobKind
  state: JobState
  progress: number
  /** Why it failed: a msgid and its params, translated for each reader. */
  error?: { msgid: string; params?: Record<string, string | number> }
  /** What the job makes: the new profile's name (a clone), the profile (a publish). */
  target: string
  createdBy: string
  /** The host whose process runs it (several hosts may share a Redis store); older jobs have none. */
  host?: string
  finishedAt?: string
  /** The temporary file it writes in the images directory, removed if the job does not finish. */
  partial?: string
}

/** The new profile's name doubles as its system disk's image name, so it must be a valid image name too. */
export const ProfileClone = v.strictObject({
  name: ImageName,
  mode: v.optional(v.picklist(['full', 'linked']), 'full'),
})
