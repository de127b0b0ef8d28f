import { defineCommand } from 'citty'
import { setTimeout as sleep } from 'node:timers/promises'
import { N_ } from '#schemas/msgid'
import { Api } from './api'
import { guarded } from './guarded'
import { t } from './i18n'

interface Job { id: string; state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'; progress: number; error?: string }

const ENDED = new Set<Job['state']>(['succeeded', 'failed', 'cancelled'])

/**
 * Follows a job to its end, its progress one line on stderr rewritten in place. Ctrl-C cancels
 * the job (a half-made clone is then removed by the server) rather than leaving it running unseen.
 */
async function follow(api: Api, id: string): Promise<Job> {
  const cancel = () => {
    process.stderr.write(`\n${t(N_('Cancelling job {id}...'), { id })}\n`)
    void api.call('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`).catch(() => {})
  }
  process.once('SIGINT', cancel)
  try {
    let shown = -1
    for (;;) {
      const job = await api.call<Job>('GET', `/api/jobs/${encodeURIComponent(id)}`)
      const pct = Math.floor(job.progress)
      if (pct !== shown) {
        shown = pct
        process.stderr.write(`\r${t(N_('Copying: {pct}%'), { pct })}`)
      }
      if (ENDED.has(job.state)) {
        process.stderr.write('\n')
        return job
      }
      await sleep(500)
    }
  } finally {
    process.off('SIGINT', cancel)
  }
}

const clone = defineCommand({
  meta: { name: 'clone', description: t(N_('Make a new profile from a profile, with a copy of its system disk (or a linked clone)')) },
  args: {
    id: { type: 'positional', required: true, description: t(N_('Profile to clone')) },
    name: { type: 'string', required: true, description: t(N_('Name of the new profile (and of its image)')) },
    linked: { type: 'boolean', description: t(N_('A linked clone: a qcow2 backed by the source image instead of a full copy')) },
  },
  run: guarded(async ({ args }) => {
    const api = Api.fromEnv()
    const { job } = await api.call<{ job: Job }>('POST', `/api/profiles/${encodeURIComponent(args.id)}/clone`, { name: args.name, mode: args.linked ? 'linked' : 'full' })
    const end = await follow(api, job.id)
    if (end.state === 'succeeded') return console.log(t(N_('Profile {name} made from {id}'), { name: args.name, id: args.id }))
    console.error(end.state === 'cancelled' ? t(N_('The clone was cancelled; nothing was kept')) : t(N_('The clone failed: {error}'), { error: end.error ?? '' }))
    process.exitCode = 1
  }),
})

export const profile = defineCommand({
  meta: { name: 'profile', description: t(N_('Work on profiles: clone')) },
  subCommands: { clone },
})
