import * as v from 'valibot'
import { ImageName } from './images'

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const
export type JobState = (typeof JOB_STATES)[number]

/** Long work run in this process (a profile clone), as the store keeps it. */
export interface Job {
  kind: string
  state: JobState
  progress: number
  /** Why it failed: a msgid and its params, translated for each reader. */
  error?: { msgid: string; params?: Record<string, string | number> }
  /** What the job makes: the new profile's name. */
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
