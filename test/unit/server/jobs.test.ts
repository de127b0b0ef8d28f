import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openKv, repositories, type Repositories } from '#storage'
import { readConfig } from '#server/config'
import { cancelJob, failInterrupted, startJob } from '#server/jobs/index'
import type { Job } from '#schemas/jobs'

// Several hosts share one Redis store: a host that restarts fails only its own interrupted jobs.
describe('jobs on a store shared by hosts', () => {
  let dir: string
  let store: Repositories
  const ctxOf = (host: string) => ({ config: readConfig({ LABVIRT_DATA_DIR: dir, LABVIRT_HOST_ID: host }), store })
  const job = (host?: string): Job => ({ kind: 'clone-full', state: 'running', progress: 40, target: 'x', createdBy: 'admin', ...(host ? { host } : {}) })

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-jobs-'))
    store = repositories(await openKv({ dir }))
  })
  afterEach(async () => {
    await store.kv.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a restart fails its own and hostless jobs, not those another host runs', async () => {
    await store.jobs.create('job-a', job('a'))
    await store.jobs.create('job-b', job('b'))
    await store.jobs.create('job-old', job())
    await failInterrupted(ctxOf('a'))
    expect((await store.jobs.get('job-a'))?.state).toBe('failed')
    expect((await store.jobs.get('job-old'))?.state).toBe('failed')
    expect((await store.jobs.get('job-b'))).toMatchObject({ state: 'running', progress: 40 })
  })

  it('a job names the host that runs it, and another host says where to cancel it', async () => {
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const started = await startJob(ctxOf('a'), { username: 'admin' }, 'clone-full', 'x', async () => {
      await held
      return 'done'
    })
    expect(started.host).toBe('a')
    await expect.poll(async () => (await store.jobs.get(started.id))?.state).toBe('running')
    await expect(cancelJob(ctxOf('b'), { username: 'admin' }, started.id)).rejects.toMatchObject({ statusCode: 409, params: { host: 'a' } })
    release()
    await expect.poll(async () => (await store.jobs.get(started.id))?.state).toBe('succeeded')
  })
})
