import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openKv, type Kv, type StoreChange } from '#storage/kv'
import { StoreUnavailableError } from '#storage/errors'
import { startRedis, type TestRedis } from '../../helpers/redis'

// Kv.update is the store's only read-modify-write: every revision check stands on it. On the file
// store it is a per-key lock in the process; on Redis, a compare-and-set script, which must also
// hold between two processes (two hosts) sharing one Redis.

let redis: TestRedis
const dirs: string[] = []
const kvs: Kv[] = []

beforeAll(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  await Promise.all(kvs.splice(0).map((kv) => kv.close().catch(() => {})))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
afterAll(async () => {
  await redis?.dispose()
})

/** Retries `op` until it resolves or `timeoutMs` passes. */
async function until<T>(op: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await op()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

async function open(kind: 'fs' | 'redis', db = 0): Promise<Kv> {
  const dir = await mkdtemp(join(tmpdir(), 'labvirt-kv-'))
  dirs.push(dir)
  const kv = await openKv({ dir, url: kind === 'redis' ? `redis://127.0.0.1:${redis.port}/${db}` : undefined })
  kvs.push(kv)
  // The Redis client connects in the background (see the "ready" test below): wait for it here,
  // so the tests that follow measure update() and not the connection.
  await until(() => kv.ping())
  return kv
}

let dbCounter = 0
// Each test gets its own Redis database, so keys never leak between tests.
const nextDb = () => (dbCounter = (dbCounter % 15) + 1)

describe.each(['fs', 'redis'] as const)('Kv on %s', (kind) => {
  const openOne = () => open(kind, kind === 'redis' ? nextDb() : 0)

  it('100 concurrent read-modify-write increments end at 100', async () => {
    const kv = await openOne()
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        kv.update<{ n: number }>('counters:c', async (cur) => {
          // Yield between read and write, so unserialized updates would interleave and lose writes.
          await new Promise((r) => setImmediate(r))
          return { n: (cur?.n ?? 0) + 1 }
        }),
      ),
    )
    expect(await kv.get('counters:c')).toEqual({ n: 100 })
    // Each update saw a distinct value: 1..100, each once.
    expect(results.map((r) => r!.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
  })

  it('increments on several keys at once stay separate', async () => {
    const kv = await openOne()
    const keys = ['counters:a', 'counters:b', 'counters:c']
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        kv.update<{ n: number }>(keys[i % 3]!, async (cur) => {
          await new Promise((r) => setImmediate(r))
          return { n: (cur?.n ?? 0) + 1 }
        }),
      ),
    )
    expect(await kv.getMany(keys)).toEqual([{ n: 20 }, { n: 20 }, { n: 20 }])
    expect(await kv.keys('counters')).toEqual(keys)
  })

  it("an error thrown by the caller's function passes through untouched and changes nothing", async () => {
    const kv = await openOne()
    await kv.set('things:x', { v: 1 })
    class Refused extends Error {}
    const err = await kv.update('things:x', () => { throw new Refused('no') }).catch((e) => e)
    expect(err).toBeInstanceOf(Refused)
    expect(err).not.toBeInstanceOf(StoreUnavailableError)
    expect(await kv.get('things:x')).toEqual({ v: 1 })
    // The key is not left locked: the next update goes through.
    await expect(kv.update<{ v: number }>('things:x', (c) => ({ v: c!.v + 1 }))).resolves.toEqual({ v: 2 })
  })

  it('update returning null deletes the record; on a missing key it stays missing', async () => {
    const kv = await openOne()
    await kv.set('things:y', { v: 1 })
    expect(await kv.update('things:y', () => null)).toBeNull()
    expect(await kv.get('things:y')).toBeNull()
    expect(await kv.keys('things')).toEqual([])
    expect(await kv.update('things:never', () => null)).toBeNull()
    expect(await kv.get('things:never')).toBeNull()
  })

  it('get and getMany give back any JSON value exactly as set stored it', async () => {
    const kv = await openOne()
    const values: Record<string, unknown> = {
      object: { a: 1, nested: { b: [1, 'two'] } },
      array: [1, 2, 3],
      number: 42,
      boolean: true,
      string: 'hello',
      numeric: '123',
    }
    for (const [k, v] of Object.entries(values)) await kv.set(`values:${k}`, v)
    for (const [k, v] of Object.entries(values)) expect(await kv.get(`values:${k}`), `get ${k}`).toEqual(v)
    const keys = Object.keys(values).map((k) => `values:${k}`)
    expect(await kv.getMany(keys)).toEqual(Object.values(values))
  })

  it('peek gives the value frozen all the way down, the latest write and delete included, and get stays a copy of its own', async () => {
    const kv = await openOne()
    await kv.set('labs:a', { name: 'one', profiles: ['p1'] })
    const first = await kv.peek<{ name: string; profiles: string[] }>('labs:a')
    expect(first).toEqual({ name: 'one', profiles: ['p1'] })
    expect(() => ((first as { name: string }).name = 'changed')).toThrow(TypeError)
    expect(() => (first!.profiles as string[]).push('p2')).toThrow(TypeError)
    // A caller of get may change what it got: neither the store nor the next peek sees it.
    const copy = (await kv.get<{ name: string; profiles: string[] }>('labs:a'))!
    copy.profiles.push('mine')
    expect(await kv.peek('labs:a')).toEqual({ name: 'one', profiles: ['p1'] })
    await kv.update<{ name: string; profiles: string[] }>('labs:a', (cur) => ({ ...cur!, name: 'two' }))
    expect(await kv.peek('labs:a')).toEqual({ name: 'two', profiles: ['p1'] })
    await kv.remove('labs:a')
    expect(await kv.peek('labs:a')).toBeNull()
  })

  it('keys(prefix) lists one collection, sorted, and not a collection whose name merely starts the same', async () => {
    const kv = await openOne()
    await kv.set('labs:b', 1)
    await kv.set('labs:a', 2)
    await kv.set('labsx:c', 3)
    await kv.set('users:a', 4)
    expect(await kv.keys('labs')).toEqual(['labs:a', 'labs:b'])
    expect(await kv.getMany(['labs:a', 'labs:missing', 'labs:b'])).toEqual([2, 1])
  })

  it(kind === 'fs' ? 'generation grows with each write and delete in the collections named, and only theirs' : 'generation is unknown: other hosts write unseen', async () => {
    const kv = await openOne()
    const g0 = kv.generation(['labs', 'users'])
    if (kind === 'redis') return expect(g0).toBeUndefined()
    await kv.set('labsx:a', 1)
    await kv.update('clients:a', () => 1)
    expect(kv.generation(['labs', 'users'])).toBe(g0)
    await kv.set('labs:a', 1)
    const g1 = kv.generation(['labs', 'users'])!
    expect(g1).toBeGreaterThan(g0!)
    await kv.update('users:a', () => 2)
    await kv.remove('labs:a')
    expect(kv.generation(['labs', 'users'])).toBe(g1 + 2)
    // Handed back unchanged: nothing written.
    await kv.update('users:a', (cur) => cur)
    expect(kv.generation(['labs', 'users'])).toBe(g1 + 2)
  })
})

describe.each(['fs', 'redis'] as const)('the change signal of Kv on %s', (kind) => {
  it('says which collection and record each write and delete touched, after it landed', async () => {
    const kv = await open(kind, kind === 'redis' ? nextDb() : 0)
    const seen: StoreChange[] = []
    kv.changes.on('change', (c) => seen.push(c))
    await kv.set('labs:a1', { n: 1 })
    await kv.update('labs:a1', () => ({ n: 2 }))
    await kv.update('labs:a1', (cur) => cur) // unchanged: nothing written, nothing said
    await kv.remove('labs:a1')
    await kv.update('vms:b-1', () => ({ n: 1 }))
    await kv.update('vms:b-1', () => null)
    expect(seen).toEqual([
      { collection: 'labs', id: 'a1', deleted: false },
      { collection: 'labs', id: 'a1', deleted: false },
      { collection: 'labs', id: 'a1', deleted: true },
      { collection: 'vms', id: 'b-1', deleted: false },
      { collection: 'vms', id: 'b-1', deleted: true },
    ])
  })
})

describe('Kv on redis, two processes', () => {
  it("one host hears of the other's writes, once, and not of another database's", async () => {
    const db = nextDb()
    const a = await open('redis', db)
    const b = await open('redis', db)
    const other = await open('redis', db === 15 ? 1 : db + 1)
    const heardByB: StoreChange[] = []
    const heardByA: StoreChange[] = []
    b.changes.on('change', (c) => heardByB.push(c))
    a.changes.on('change', (c) => heardByA.push(c))
    // The subscription is made in the background: write until B hears one.
    await until(async () => {
      await a.set('labs:x1', { n: 1 })
      if (!heardByB.length) throw new Error('not heard yet')
    })
    await other.set('labs:elsewhere', { n: 1 })
    await a.update('profiles:p1', () => ({ n: 1 }))
    await until(async () => {
      if (!heardByB.some((c) => c.collection === 'profiles')) throw new Error('not heard yet')
    })
    expect(heardByB.at(-1)).toEqual({ collection: 'profiles', id: 'p1', deleted: false })
    expect(heardByB.some((c) => c.id === 'elsewhere')).toBe(false)
    // A hears its own writes once (as it makes them), not again from the channel.
    expect(heardByA.filter((c) => c.collection === 'profiles')).toHaveLength(1)
  })


  it('two clients (two hosts) incrementing one key 50 times each end at 100', async () => {
    const db = nextDb()
    const a = await open('redis', db)
    const b = await open('redis', db)
    const inc = (kv: Kv) =>
      kv.update<{ n: number }>('counters:shared', async (cur) => {
        await new Promise((r) => setImmediate(r))
        return { n: (cur?.n ?? 0) + 1 }
      })
    await Promise.all(Array.from({ length: 100 }, (_, i) => inc(i % 2 ? a : b)))
    expect(await a.get('counters:shared')).toEqual({ n: 100 })
  })

  it('is usable as soon as openKv resolves when Redis is up', async () => {
    // The server opens the store once at start and immediately bootstraps the admin user and
    // answers requests; with Redis up, none of that should fail with "store unavailable".
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-kv-'))
    dirs.push(dir)
    const kv = await openKv({ dir, url: redis.url })
    kvs.push(kv)
    await expect(kv.get('anything:x')).resolves.toBeNull()
  })
})

describe('Kv on redis while Redis is down', () => {
  it('fails fast with StoreUnavailableError and works again once Redis is back', async () => {
    const own = await startRedis()
    try {
      const dir = await mkdtemp(join(tmpdir(), 'labvirt-kv-'))
      dirs.push(dir)
      const kv = await openKv({ dir, url: own.url })
      kvs.push(kv)
      await until(() => kv.ping())
      await kv.set('things:a', { v: 1 })

      await own.stop('SIGKILL')
      for (const op of [
        () => kv.get('things:a'),
        () => kv.set('things:b', 1),
        () => kv.keys('things'),
        () => kv.update('things:a', () => ({ v: 2 })),
        () => kv.ping(),
      ]) {
        const t0 = Date.now()
        const err = await op().then(() => undefined, (e) => e)
        expect(err).toBeInstanceOf(StoreUnavailableError)
        expect(Date.now() - t0).toBeLessThan(3500)
      }

      await own.start()
      const t0 = Date.now()
      await until(() => kv.ping(), 10_000)
      expect(Date.now() - t0).toBeLessThan(5000)
      // An in-memory Redis comes back empty; the point here is that the same Kv works again.
      await kv.set('things:c', { v: 3 })
      expect(await kv.get('things:c')).toEqual({ v: 3 })
    } finally {
      await own.dispose()
    }
  })
})
