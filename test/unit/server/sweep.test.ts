import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openKv, repositories, type Repositories } from '#storage'
import { createSession, readSession, sweepExpiredSessions } from '#server/auth/sessions'
import { listEvents, pruneEvents, recordEvent } from '#server/events/index'
import { PENDING_MAX_AGE_MS, recordPending, sweepPending } from '#server/terminals/pending'
import { HOST_GONE_MS, sweepGoneHosts } from '#server/resources/gone-hosts'

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

  it('drops the figures and host checks of a host silent for a week, keeps those of a host still writing', async () => {
    for (const host of ['gone', 'here']) {
      await store.hosts.upsert(host, () => ({ intervalMs: 5000, figures: null }) as never)
      await store.hostChecks.upsert(host, () => ({ checks: [] }))
    }
    // `here` writes again a day later.
    const later = Date.now() + 24 * 3600_000
    const aged = (r: { updatedAt: string }) => ({ ...r, updatedAt: new Date(later).toISOString() })
    await store.kv.set('hosts:here', aged((await store.hosts.get('here'))!))
    await store.kv.set('host-checks:here', aged((await store.hostChecks.get('here'))!))
    expect(await sweepGoneHosts(store, Date.now() + HOST_GONE_MS - 60_000)).toBe(0)
    expect(await sweepGoneHosts(store, Date.now() + HOST_GONE_MS + 60_000)).toBe(2)
    expect((await store.hosts.list()).map((h) => h.id)).toEqual(['here'])
    expect((await store.hostChecks.list()).map((h) => h.id)).toEqual(['here'])
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
