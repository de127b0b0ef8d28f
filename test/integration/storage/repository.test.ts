import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openKv, type Kv } from '#storage/kv'
import { RecordConflict, Repository } from '#storage/repository'
import { startRedis, type TestRedis } from '../../helpers/redis'

// Revision rules every API record follows: created at 1, +1 per write, a write naming a revision
// that is no longer current is refused and changes nothing. Same rules on both stores.

interface Thing { name: string; colour: string }

let redis: TestRedis
let dir: string
let kv: Kv | undefined
let db = 0

beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.dispose()
})
afterEach(async () => {
  await kv?.close()
  kv = undefined
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function conflict(p: Promise<unknown>): Promise<RecordConflict> {
  const err = await p.then(() => undefined, (e) => e)
  expect(err, 'expected a RecordConflict').toBeInstanceOf(RecordConflict)
  return err
}

describe.each(['fs', 'redis'] as const)('Repository on %s', (kind) => {
  let things: Repository<Thing>

  const setup = async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-repo-'))
    db = (db % 15) + 1
    kv = await openKv({ dir, url: kind === 'redis' ? `redis://127.0.0.1:${redis.port}/${db}` : undefined })
    // Wait for the Redis connection (it opens in the background).
    const deadline = Date.now() + 5000
    for (;;) {
      try {
        await kv.ping()
        break
      } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    things = new Repository<Thing>(kv, 'things')
  }

  it('create sets id, revision 1 and dates; creating the same id again is a conflict and changes nothing', async () => {
    await setup()
    const a = await things.create('a', { name: 'a', colour: 'red' })
    expect(a).toMatchObject({ id: 'a', revision: 1, name: 'a', colour: 'red' })
    expect(a.createdAt).toBe(a.updatedAt)
    expect(await things.get('a')).toEqual(a)

    const err = await conflict(things.create('a', { name: 'a', colour: 'blue' }))
    expect(err.reason).toBe('exists')
    expect(err.current).toMatchObject({ id: 'a', revision: 1 })
    expect(await things.get('a')).toEqual(a)
  })

  it('update with the current revision bumps it; a stale revision is a conflict and changes nothing', async () => {
    await setup()
    await things.create('a', { name: 'a', colour: 'red' })
    const b = await things.update('a', 1, (cur) => ({ ...cur, colour: 'green' }))
    expect(b).toMatchObject({ id: 'a', revision: 2, colour: 'green' })
    expect(await things.get('a')).toEqual(b)

    const err = await conflict(things.update('a', 1, (cur) => ({ ...cur, colour: 'blue' })))
    expect(err.reason).toBe('stale')
    expect(err.current).toMatchObject({ revision: 2 })
    expect(await things.get('a')).toEqual(b)

    // A revision from the future is just as stale.
    expect((await conflict(things.update('a', 7, (cur) => cur))).reason).toBe('stale')
    // No revision: an unconditional write (used by LabVirt itself, never by the API's PUT).
    expect(await things.update('a', undefined, (cur) => ({ ...cur, colour: 'blue' }))).toMatchObject({ revision: 3, colour: 'blue' })
  })

  it('update and remove of a missing record are conflicts of their own kind', async () => {
    await setup()
    expect((await conflict(things.update('nope', 1, (cur) => cur))).reason).toBe('missing')
    expect((await conflict(things.remove('nope'))).reason).toBe('missing')
    expect(await things.get('nope')).toBeNull()
  })

  it('remove with a stale revision is a conflict and keeps the record; with the current one it goes', async () => {
    await setup()
    await things.create('a', { name: 'a', colour: 'red' })
    const b = await things.update('a', 1, (cur) => ({ ...cur, colour: 'green' }))
    const err = await conflict(things.remove('a', 1))
    expect(err.reason).toBe('stale')
    expect(await things.get('a')).toEqual(b)
    expect(await things.remove('a', 2)).toEqual(b)
    expect(await things.get('a')).toBeNull()
    expect(await things.list()).toEqual([])
  })

  it('a change function that throws leaves the record as it was', async () => {
    await setup()
    const a = await things.create('a', { name: 'a', colour: 'red' })
    await expect(things.update('a', 1, () => { throw new Error('invalid') })).rejects.toThrow('invalid')
    expect(await things.get('a')).toEqual(a)
  })

  it('ten updates holding the same revision at once: exactly one wins', async () => {
    await setup()
    await things.create('a', { name: 'a', colour: 'red' })
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        things.update('a', 1, async (cur) => {
          await new Promise((r) => setImmediate(r))
          return { ...cur, colour: `c${i}` }
        }),
      ),
    )
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(won).toHaveLength(1)
    expect(lost.every((r) => r.reason instanceof RecordConflict && r.reason.reason === 'stale')).toBe(true)
    const stored = await things.get('a')
    expect(stored).toMatchObject({ revision: 2, colour: (won[0] as PromiseFulfilledResult<any>).value.colour })
  })

  it('two creates of one id at once: exactly one wins', async () => {
    await setup()
    const results = await Promise.allSettled([
      things.create('a', { name: 'a', colour: 'red' }),
      things.create('a', { name: 'a', colour: 'blue' }),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const winner = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<any>).value
    expect(await things.get('a')).toEqual(winner)
  })

  it('list gives every record of the collection, sorted by id, and nothing else', async () => {
    await setup()
    for (const id of ['c', 'a', 'b']) await things.create(id, { name: id, colour: 'red' })
    await new Repository<Thing>(kv!, 'others').create('z', { name: 'z', colour: 'red' })
    expect((await things.list()).map((t) => t.id)).toEqual(['a', 'b', 'c'])
  })

  it('upsert creates, replaces, leaves alone (undefined) or removes (null), atomically', async () => {
    await setup()
    const created = await things.upsert('a', (cur) => (cur ? undefined : { name: 'a', colour: 'red' }))
    expect(created).toMatchObject({ id: 'a', revision: 1, colour: 'red' })
    expect(await things.upsert('a', (cur) => (cur ? undefined : { name: 'a', colour: 'blue' }))).toMatchObject({ revision: 1, colour: 'red' })
    expect(await things.upsert('a', (cur) => ({ ...cur!, colour: 'green' }))).toMatchObject({ revision: 2, colour: 'green', createdAt: created!.createdAt })
    // Ten at once, each taking it only if nobody has: exactly one does.
    const takers = await Promise.all(Array.from({ length: 10 }, (_, i) => things.upsert('b', (cur) => cur ?? { name: 'b', colour: String(i) })))
    expect(new Set(takers.map((t) => t!.colour)).size).toBe(1)
    expect(await things.upsert('a', () => null)).toBeNull()
    expect(await things.get('a')).toBeNull()
  })
})
