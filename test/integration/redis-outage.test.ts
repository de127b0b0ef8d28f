import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiClient } from '../helpers/client'
import { adminWhenReady, bodies, create, createLabSet, type LabSet, uniqueName } from '../helpers/fixtures'
import { startRedis, type TestRedis } from '../helpers/redis'
import { startServer, type TestServer } from '../helpers/server'

// Redis goes away under a running server: the API must answer 503 (with Retry-After and a message
// saying why) quickly instead of hanging, health must say the store is down, and once Redis is
// back on the same port the API must work again by itself, with the data written before.
// Redis runs with an fsynced append-only file here, so its data survives the restart.

/** No answer may take longer than this while the store is down. */
const ANSWER_MS = 5000
/** The API must be back within this long after Redis is. */
const RECOVERY_MS = 10_000

interface Timed {
  status: number
  body: any
  retryAfter: string | null
  ms: number
}

/** One request with the admin's cookie, aborted (and failed) after `limitMs`. */
async function timed(api: ApiClient, method: string, path: string, body?: unknown, limitMs = ANSWER_MS * 2): Promise<Timed> {
  const t0 = performance.now()
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { cookie: api.cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(limitMs),
  })
  const text = await res.text()
  let parsed: any = text
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {}
  return { status: res.status, body: parsed, retryAfter: res.headers.get('retry-after'), ms: performance.now() - t0 }
}

/** Polls `probe` until it answers 200; returns how long that took. Fails after `limitMs`. */
async function until200(probe: () => Promise<Timed>, limitMs: number): Promise<number> {
  const t0 = performance.now()
  let last: Timed | string = 'nothing yet'
  while (performance.now() - t0 < limitMs) {
    try {
      last = await probe()
      if (last.status === 200) return performance.now() - t0
    } catch (err) {
      last = String(err)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no 200 within ${limitMs} ms; last: ${JSON.stringify(last)}`)
}

function expectUnavailable(a: Timed, what: string) {
  expect(a.status, `${what}: ${JSON.stringify(a.body)}`).toBe(503)
  expect(a.body?.error, what).toBe('store_unavailable')
  expect(String(a.body?.message), what).toMatch(/store/i)
  expect(Number(a.retryAfter), `${what}: Retry-After`).toBeGreaterThan(0)
  expect(a.ms, `${what}: answered in ${a.ms.toFixed(0)} ms`).toBeLessThan(ANSWER_MS)
}

describe('Redis outage', () => {
  let redis: TestRedis
  let server: TestServer
  let api: ApiClient
  let set: LabSet

  beforeAll(async () => {
    redis = await startRedis({ persistent: true })
    server = await startServer({ LABVIRT_STORE_URL: redis.url })
    api = await adminWhenReady(server.url)
    set = await createLabSet(api, 'out')
  })

  afterAll(async () => {
    await server?.dispose()
    await redis?.dispose()
  })

  it('Redis killed mid-run: 503 with Retry-After, no hang; Redis back: the API recovers with its data', async () => {
    // Writers keep going while Redis dies: every answer must be a 2xx or a 503, never a 500 or a hang.
    const during: Timed[] = []
    let writing = true
    const writer = (async () => {
      let i = 0
      while (writing) {
        const r = await timed(api, 'PUT', `/api/clients/${set.client.id}`, {
          ...(await timed(api, 'GET', `/api/clients/${set.client.id}`)).body,
          description: `write ${i++}`,
        }).catch((err) => ({ status: -1, body: String(err), retryAfter: null, ms: -1 }))
        during.push(r)
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    await new Promise((r) => setTimeout(r, 300))
    const lab = (await timed(api, 'GET', `/api/labs/${set.lab.id}`)).body
    await redis.stop('SIGKILL')
    await new Promise((r) => setTimeout(r, 500))
    writing = false
    await writer
    for (const r of during) {
      expect([200, 503], JSON.stringify(r)).toContain(r.status)
      expect(r.ms).toBeLessThan(ANSWER_MS)
    }
    expect(during.some((r) => r.status === 503), 'some writes met the outage').toBe(true)

    // Reads, writes and deletes, of records and of the session itself: all 503, all quick.
    expectUnavailable(await timed(api, 'GET', '/api/labs'), 'GET /api/labs')
    expectUnavailable(await timed(api, 'GET', `/api/labs/${set.lab.id}`), 'GET /api/labs/:id')
    expectUnavailable(await timed(api, 'PUT', `/api/labs/${set.lab.id}`, { ...lab, size: 3 }), 'PUT /api/labs/:id')
    expectUnavailable(await timed(api, 'POST', '/api/clients', bodies.client()), 'POST /api/clients')
    expectUnavailable(await timed(api, 'DELETE', `/api/terminals/${set.terminal.id}`), 'DELETE /api/terminals/:id')
    expectUnavailable(await timed(api, 'GET', '/api/auth/me'), 'GET /api/auth/me')
    expectUnavailable(await timed({ url: api.url, cookie: '' } as ApiClient, 'POST', '/api/auth/login', { username: 'admin', password: 'x'.repeat(12) }), 'POST /api/auth/login')

    // Health answers (no session needed) and says the store is down.
    const health = await timed(api, 'GET', '/api/health')
    expect(health.ms).toBeLessThan(ANSWER_MS)
    expect(health.status).toBe(503)
    expect(health.body).toMatchObject({ ok: false, store: { kind: 'redis', ok: false } })

    // Still down a few seconds later (ioredis retrying in the background must not wedge anything).
    await new Promise((r) => setTimeout(r, 1500))
    expectUnavailable(await timed(api, 'GET', '/api/labs'), 'GET /api/labs after 2 s')

    // Redis back on the same port, with its append-only file: the API recovers by itself.
    const restarted = performance.now()
    await redis.start()
    const recoveryMs = await until200(() => timed(api, 'GET', '/api/labs'), RECOVERY_MS)
    const totalMs = performance.now() - restarted
    console.log(`[redis-outage] API answered 200 again ${totalMs.toFixed(0)} ms after redis-server was started (${recoveryMs.toFixed(0)} ms after it answered PING)`)
    expect(totalMs).toBeLessThan(RECOVERY_MS)

    // Health is green again; every record written before the outage is there as it was.
    const healthAfter = await timed(api, 'GET', '/api/health')
    expect(healthAfter.status).toBe(200)
    expect(healthAfter.body).toMatchObject({ ok: true, store: { ok: true } })
    for (const [resource, rec] of [
      ['images', set.image], ['profiles', set.profile], ['labs', set.lab], ['terminals', set.terminal],
    ] as const) {
      const got = await timed(api, 'GET', `/api/${resource}/${rec.id}`)
      expect(got.status, `${resource}/${rec.id}`).toBe(200)
      expect(got.body.revision).toBe(rec.revision)
    }
    // The client record holds the last write acknowledged before Redis died, or the one write
    // after it that Redis made durable but could not acknowledge before it was killed.
    const lastOk = during.filter((r) => r.status === 200).at(-1)
    expect(lastOk, 'some writes succeeded before the outage').toBeDefined()
    const client = (await timed(api, 'GET', `/api/clients/${set.client.id}`)).body
    if (client.revision === lastOk!.body.revision) {
      expect(client.description).toBe(lastOk!.body.description)
    } else {
      expect(client.revision).toBe(lastOk!.body.revision + 1)
      const n = Number(/^write (\d+)$/.exec(lastOk!.body.description)![1])
      expect(client.description).toBe(`write ${n + 1}`)
    }

    // Writes work again, with the same session.
    const put = await timed(api, 'PUT', `/api/labs/${set.lab.id}`, { ...lab, size: 3 })
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(put.body.revision).toBe(lab.revision + 1)
    expect((await timed(api, 'POST', '/api/clients', bodies.client(uniqueName('after')))).status).toBe(201)
  })

  it('server started while Redis is down: 503 until Redis comes up, then it works by itself', async () => {
    await redis.stop('SIGKILL')
    // A second server (its own data dir, the same Redis), started while Redis is down.
    const late = await startServer({ LABVIRT_STORE_URL: redis.url }, { healthy: false })
    try {
      const anon = { url: late.url, cookie: '' } as ApiClient
      expectUnavailable(await timed(anon, 'POST', '/api/auth/login', { username: 'admin', password: 'x'.repeat(12) }), 'login before Redis is up')
      const health = await timed(anon, 'GET', '/api/health')
      expect(health.status).toBe(503)
      expect(health.body).toMatchObject({ ok: false, store: { ok: false } })
      await new Promise((r) => setTimeout(r, 2000))
      const t0 = performance.now()
      await redis.start()
      // Health turns 200 once the start-up (the admin bootstrap, retried with a growing delay) is
      // through.
      await until200(() => timed(anon, 'GET', '/api/health'), RECOVERY_MS)
      const healthyMs = performance.now() - t0
      // The bootstrap resets admin from LABVIRT_ADMIN_PASSWORD, which ends admin's sessions on every
      // server sharing this Redis: log in after it (and again on the first server, below).
      const lateApi = await adminWhenReady(late.url, RECOVERY_MS)
      console.log(`[redis-outage] server started without Redis: health was 200 ${healthyMs.toFixed(0)} ms after redis-server was started`)
      expect(healthyMs).toBeLessThan(RECOVERY_MS)
      // It shares the store with the first server: the records written there are here.
      const lab = await timed(lateApi, 'GET', `/api/labs/${set.lab.id}`)
      expect(lab.status).toBe(200)
    } finally {
      await late.dispose()
    }
    api = await adminWhenReady(server.url, RECOVERY_MS)
  })

  it('Redis hung (SIGSTOP): answers are 503 within the command timeout, not a hang; it recovers on SIGCONT', async () => {
    if (!redis.running()) await redis.start() // the test before failed half-way
    await until200(() => timed(api, 'GET', '/api/health'), RECOVERY_MS)
    api = await adminWhenReady(server.url, RECOVERY_MS)
    const before = await create(api, 'clients', bodies.client(uniqueName('hung')))
    redis.pause()
    try {
      const answers = await Promise.all([
        timed(api, 'GET', '/api/labs'),
        timed(api, 'GET', `/api/clients/${before.id}`),
        timed(api, 'PUT', `/api/clients/${before.id}`, { ...before, description: 'during hang' }),
      ])
      answers.forEach((a, i) => expectUnavailable(a, `request ${i} while Redis is hung`))
      const health = await timed(api, 'GET', '/api/health')
      expect(health.ms).toBeLessThan(ANSWER_MS)
      expect(health.body).toMatchObject({ store: { ok: false } })
    } finally {
      redis.resume()
    }
    const ms = await until200(() => timed(api, 'GET', `/api/clients/${before.id}`), RECOVERY_MS)
    console.log(`[redis-outage] API answered 200 again ${ms.toFixed(0)} ms after SIGCONT`)
    // The PUT that timed out must not have been applied behind the caller's back... or if Redis ran
    // it late, it must at least be a whole write. Either way the record is consistent.
    const after = (await timed(api, 'GET', `/api/clients/${before.id}`)).body
    expect([1, 2]).toContain(after.revision)
    if (after.revision === 2) expect(after.description).toBe('during hang')
    else expect(after.description).toBe(before.description)
  })
})
