import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openKv, repositories, type Repositories } from '#storage'
import { createSession, readSession, sweepExpiredSessions } from '#server/auth/sessions'
import { listEvents, pruneEvents, recordEvent } from '#server/events/index'
import { PENDING_MAX_AGE_MS, recordPending, sweepPending } from '#server/terminals/pending'

describe('store sweep', () => {
  let dir: string
  let store: Repositories

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-sweep-'))
    store = repositories(await openKv({ dir }))
  })
  afterEach(async () => {
    await store.kv.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('removes sessions past their expiry', async () => {
    const live = await createSession(store, 'admin')
    await createSession(store, 'old')
    await createSession(store, 'older')
    const removed = await sweepExpiredSessions(store, Date.now() + 13 * 3600 * 1000)
    expect(removed).toBe(3)
    expect(await readdir(join(dir, 'store/sessions'))).toEqual([])
    expect(await readSession(store, live)).toBeNull()
  })

  it('keeps sessions that have not expired', async () => {
    const token = await createSession(store, 'admin')
    expect(await sweepExpiredSessions(store)).toBe(0)
    expect((await readSession(store, token))?.username).toBe('admin')
  })

  it('drops pending terminals not seen for a week, keeps the others', async () => {
    const now = Date.parse('2026-11-30T08:00:00Z')
    await recordPending(store, '10.0.0.7', undefined, now - PENDING_MAX_AGE_MS - 1)
    await recordPending(store, '10.0.0.8', '52:54:00:00:00:08', now - PENDING_MAX_AGE_MS + 60_000)
    expect(await sweepPending(store, now)).toBe(1)
    expect((await store.pending.list()).map((p) => p.ip)).toEqual(['10.0.0.8'])
  })

  it('prunes the event log to the newest N, newest first', async () => {
    for (let i = 0; i < 12; i++) {
      await recordEvent(store, { username: 'admin' }, 'create', 'lab', `lab${i}`)
      await new Promise((r) => setTimeout(r, 2)) // distinct milliseconds keep the order certain
    }
    expect(await pruneEvents(store, 5)).toBe(7)
    const events = await listEvents(store, 100)
    expect(events.map((e) => e.id)).toEqual(['lab11', 'lab10', 'lab9', 'lab8', 'lab7'])
  })
})
