import { createStorage, type Storage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'
import type { Redis } from 'ioredis'
import { join } from 'node:path'
import { atomicFsDriver, type DriverWriteOptions, isVolatile, keyParts, sweepTemporaryFiles } from './fs-driver'
import { StoreUnavailableError } from './errors'
import { deepFreeze, type Frozen } from './frozen'
import { lockDataDir } from './dir-lock'
import { mkdirSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'

/**
 * One write or delete of a key (`labs:lab1` -> collection `labs`, id `lab1`), made by this process
 * or, on a shared Redis store, by another host. `collection: '*'` means changes may have been
 * missed (the store's change channel was down): whoever keeps copies should reread everything.
 */
export interface StoreChange {
  collection: string
  id: string
  deleted: boolean
}

const collectionOf = (key: string) => {
  const at = key.indexOf(':')
  return at < 0 ? key : key.slice(0, at)
}

function changeOf(key: string, deleted: boolean): StoreChange {
  const collection = collectionOf(key)
  return { collection, id: key.slice(collection.length + 1), deleted }
}

export interface WriteOptions {
  ttl?: number
  /**
   * false: the file store writes this value without fsync (still atomically renamed), for a write
   * that is not worth a flush (a job's progress: each fsync on ext4 also flushes the job's own
   * dirty file). Its collection must be in MAY_BE_TORN. Redis ignores it.
   */
  durable?: boolean
}

/**
 * The key-value store every repository stands on: unstorage for reads, writes and listing, plus an
 * atomic read-modify-write (`update`) that both backends implement: a per-key lock in this process
 * for the file store (one server owns a data directory), a compare-and-set script for Redis (many
 * hosts share it).
 */
export interface Kv {
  readonly kind: 'fs' | 'redis'
  get<T>(key: string): Promise<T | null>
  /**
   * The value as `get` reads it, but frozen and shared by every caller: the file store parses a
   * record once until it changes. For hot paths that only read (a boot storm's terminal answers).
   */
  peek<T>(key: string): Promise<Frozen<T> | null>
  getMany<T>(keys: string[]): Promise<T[]>
  keys(prefix: string): Promise<string[]>
  set(key: string, value: unknown, opts?: WriteOptions): Promise<void>
  remove(key: string): Promise<void>
  /** Atomically replaces the value under `key` by `fn(current)`; `null` from `fn` deletes it. */
  update<T>(key: string, fn: (current: T | null) => T | null | Promise<T | null>, opts?: WriteOptions): Promise<T | null>
  /**
   * A figure that grows with every write and delete landing in any of `collections` (key
   * prefixes), where this process sees every write: the file store, which one server owns. The same
   * figure later means none of them changed meanwhile, so an answer computed from them still
   * holds. Undefined on Redis, where other hosts write unseen.
   */
  generation(collections: readonly string[]): number | undefined
  ping(): Promise<void>
  close(): Promise<void>
  /** Emits `change` after every write and delete that landed: the reconciler and the live stream listen. */
  readonly changes: EventEmitter<{ change: [StoreChange] }>
}

// Anything the backend throws (Redis down, disk gone) becomes StoreUnavailableError, answered 503;
// errors thrown by the caller's own `fn` pass through untouched.
async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw err
    throw new StoreUnavailableError(err)
  }
}

// Values are stored as JSON text and read raw, so every JSON value (a string too) comes back as set.
function parse<T>(raw: unknown): T | null {
  if (raw === null || raw === undefined) return null
  return JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw as Uint8Array).toString('utf8')) as T
}

abstract class BaseKv implements Kv {
  abstract readonly kind: 'fs' | 'redis'
  readonly changes = new EventEmitter<{ change: [StoreChange] }>()
  constructor(protected storage: Storage) {
    // Every stream of the console listens: more than EventEmitter's default of 10 is normal.
    this.changes.setMaxListeners(0)
  }

  protected changed(key: string, deleted: boolean) {
    this.changes.emit('change', changeOf(key, deleted))
  }

  get<T>(key: string) {
    return guard(async () => parse<T>(await this.storage.getItemRaw(key)))
  }
  async peek<T>(key: string) {
    return deepFreeze(await this.get<T>(key))
  }
  generation(_collections: readonly string[]): number | undefined {
    return undefined
  }
  async getMany<T>(keys: string[]): Promise<T[]> {
    const values = await Promise.all(keys.map((key) => this.get<T>(key)))
    return values.filter((v) => v !== null)
  }
  keys(prefix: string) {
    return guard(async () => {
      const all = await this.storage.getKeys(prefix)
      return all.sort()
    })
  }
  async set(key: string, value: unknown, opts?: WriteOptions) {
    await guard(() => this.storage.setItemRaw(key, JSON.stringify(value), opts))
    this.changed(key, false)
  }
  async remove(key: string) {
    await guard(() => this.storage.removeItem(key))
    this.changed(key, true)
  }
  abstract update<T>(key: string, fn: (current: T | null) => T | null | Promise<T | null>, opts?: WriteOptions): Promise<T | null>
  abstract ping(): Promise<void>
  close() { return this.storage.dispose() }
}

/**
 * The collections the file store writes without fsync (see AtomicFsOptions.volatile). Seat
 * assignments too: they are about the running seats, which a power cut takes down with them, and a
 * boot storm writes two per terminal (measured: bench/boot-storm's first storm).
 */
const VOLATILE = ['vms', 'connections', 'session-ends', 'readiness', 'hosts', 'host-checks', 'heartbeats', 'assignments', 'terminal-seats']
/** The collections whose records a power cut may leave torn: VOLATILE and those with some writes `{durable: false}`. */
const MAY_BE_TORN = [...VOLATILE, 'jobs']

function isJson(raw: string) {
  try {
    JSON.parse(raw)
    return true
  } catch {
    return false
  }
}

interface CacheEntry {
  raw: string | null
  frozen?: unknown
}

function frozenOf<T>(entry: CacheEntry): Frozen<T> | null {
  if (!('frozen' in entry)) entry.frozen = deepFreeze(parse<T>(entry.raw))
  return entry.frozen as Frozen<T> | null
}

/** Past this many cached values the cache starts over (unknown terminals' lookups add misses). */
const CACHE_MAX = 50_000

class FsKv extends BaseKv {
  readonly kind = 'fs' as const
  private locks = new Map<string, Promise<unknown>>()
  /**
   * Raw values (null: no such key) as last read or written, and once `peek` asked for it the value
   * parsed and frozen. One server owns a data directory (the dir lock), so every write goes through
   * this object and the cache stays exact; a boot storm's thousands of reads then cost a parse, or
   * nothing, not a file read each. Keys are always spelled the way the repositories build them, so
   * one record has one cache entry.
   */
  private cache = new Map<string, CacheEntry>()
  /**
   * The keys under each prefix listed so far, kept by this object's writes like the cache: a list
   * of a collection (several a second: the probes, the connection watcher, each reconcile pass)
   * then walks no directory.
   */
  private keyIndex = new Map<string, Set<string>>()
  /** Writes and deletes that landed or failed so far: a listing read while one did is not kept. */
  private writes = 0
  /** The same, per collection (`generation`). */
  private writesIn = new Map<string, number>()
  /**
   * Writes to the collections kept without fsync that readers see but the disk does not yet: each
   * key's latest value (null: removed). They are derived state (VOLATILE) that a crash may lose
   * anyway, so the writer does not wait for the file: it is written once the event loop has sent
   * what was waiting on it (a VM start's answer waited 0.8-1 ms for its status record's file,
   * measured). Newest wins: a key written again meanwhile is written once.
   */
  private behind = new Map<string, string | null>()
  private flushTimer: NodeJS.Timeout | undefined
  private flushing: Promise<void> | undefined
  constructor(storage: Storage, private unlock: () => void, private mayBeTorn: readonly string[] = [], private volatile: readonly string[] = []) {
    super(storage)
  }

  private remember(key: string, raw: string | null) {
    if (this.cache.size >= CACHE_MAX) this.cache.clear()
    const entry: CacheEntry = { raw }
    this.cache.set(key, entry)
    return entry
  }
  private async entry(key: string) {
    const cached = this.cache.get(key)
    if (cached) return cached
    if (this.behind.has(key)) return this.remember(key, this.behind.get(key)!)
    const read = await guard(() => this.storage.getItemRaw(key))
    let raw = read === null || read === undefined ? null : typeof read === 'string' ? read : Buffer.from(read as Uint8Array).toString('utf8')
    // A record written without fsync may be empty or torn after a power cut: it is as if absent.
    if (raw !== null && isVolatile({ volatile: this.mayBeTorn }, key) && !isJson(raw)) {
      console.error(`[labvirt] store: ${key} was cut short by a crash; read as absent`)
      raw = null
    }
    return this.remember(key, raw)
  }
  override async get<T>(key: string) {
    return parse<T>((await this.entry(key)).raw)
  }
  override peek<T>(key: string): Promise<Frozen<T> | null> {
    const cached = this.cache.get(key)
    // A hit takes no trip through an async function: a boot storm's answers make thousands.
    return cached ? Promise.resolve(frozenOf<T>(cached)) : this.entry(key).then((e) => frozenOf<T>(e))
  }
  override generation(collections: readonly string[]) {
    let n = 0
    for (const c of collections) n += this.writesIn.get(c) ?? 0
    return n
  }
  private counted(key: string) {
    this.writes++
    const collection = collectionOf(key)
    this.writesIn.set(collection, (this.writesIn.get(collection) ?? 0) + 1)
  }
  override async keys(prefix: string) {
    let index = this.keyIndex.get(prefix)
    if (!index) {
      const before = this.writes
      // What the disk did not show when the listing began: it may be flushed while the directory is read.
      const unwritten = [...this.behind]
      const listed = new Set(await super.keys(prefix))
      for (const [key, raw] of [...unwritten, ...this.behind]) {
        if (!key.startsWith(`${prefix}:`)) continue
        if (raw === null) listed.delete(key)
        else listed.add(key)
      }
      const keys = [...listed].sort()
      if (this.writes !== before) return keys
      index = new Set(keys)
      this.keyIndex.set(prefix, index)
    }
    return [...index].sort()
  }
  /**
   * Runs a write (`raw`) or delete (null) of `key`. Once readers see it (renamed into place, or
   * unlinked) the cache, the listings of its prefixes and the change signal follow at once, while
   * the flush that makes it survive a power cut goes on: a reconcile pass an admin's write sets off
   * then overlaps that fsync instead of waiting for it. The caller still waits for the flush; in a
   * VOLATILE collection it waits for nothing but the check of the key (see `behind`).
   */
  private async write(key: string, raw: string | null, op: (opts: DriverWriteOptions) => Promise<unknown>, opts?: WriteOptions) {
    if (isVolatile({ volatile: this.volatile }, key)) {
      // Refused now, as the driver would refuse it: the disk write comes after the caller has gone on.
      await guard(async () => keyParts(key))
      this.behind.set(key, raw)
      this.land(key, raw)
      this.flushSoon()
      return
    }
    // Unknown until the write is known to have landed (or not).
    this.cache.delete(key)
    let landed = false
    const visible = () => {
      if (landed) return
      landed = true
      this.land(key, raw)
    }
    try {
      await guard(() => op({ ...opts, visible }))
    } catch (err) {
      if (!landed) {
        this.counted(key)
        for (const prefix of this.keyIndex.keys()) if (key.startsWith(`${prefix}:`)) this.keyIndex.delete(prefix)
      }
      throw err
    }
    visible()
  }
  /** What readers see of a write or delete from now on: the cache, the listings, the change signal. */
  private land(key: string, raw: string | null) {
    // Counted once it landed or failed: a listing read meanwhile may or may not show it.
    this.counted(key)
    this.remember(key, raw)
    for (const [prefix, index] of this.keyIndex) {
      if (!key.startsWith(`${prefix}:`)) continue
      if (raw === null) index.delete(key)
      else index.add(key)
    }
    this.changed(key, raw === null)
  }
  private flushSoon() {
    if (this.flushTimer || this.flushing) return
    // A timer, not setImmediate: h3 sends its answers from setImmediate, and those go first.
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined
        // Landed after the flush's last look.
        if (this.behind.size) this.flushSoon()
      })
    }, 0)
  }
  /** Writes what is behind, until nothing is: a key written again meanwhile is written again after. */
  private async flush() {
    while (this.behind.size) {
      for (const [key, raw] of [...this.behind]) {
        try {
          await (raw === null ? this.storage.removeItem(key) : this.storage.setItemRaw(key, raw))
        } catch (err) {
          // Readers keep the value (derived state, written again at its next change).
          console.error(`[labvirt] store: ${key} not written to disk: ${(err as Error).message}`)
        }
        if (this.behind.get(key) === raw) this.behind.delete(key)
      }
    }
  }
  override async set(key: string, value: unknown, opts?: WriteOptions) {
    const raw = JSON.stringify(value)
    await this.write(key, raw, (o) => this.storage.setItemRaw(key, raw, o), opts)
  }
  override async remove(key: string) {
    await this.write(key, null, (o) => this.storage.removeItem(key, o))
  }
  override async close() {
    clearTimeout(this.flushTimer)
    await this.flushing
    await this.flush()
    await super.close()
    this.unlock()
  }

  // Serializes read-modify-write per key; a chain of promises is enough within one process.
  private async withLock<R>(key: string, op: () => Promise<R>): Promise<R> {
    const prev = this.locks.get(key) ?? Promise.resolve()
    const run = prev.then(op, op)
    const tail = run.catch(() => {})
    this.locks.set(key, tail)
    try {
      return await run
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key)
    }
  }

  update<T>(key: string, fn: (current: T | null) => T | null | Promise<T | null>, opts?: WriteOptions) {
    return this.withLock(key, async () => {
      const current = await this.get<T>(key)
      const next = await fn(current)
      // Handed back unchanged: nothing to write (and no fsync).
      if (next === current) return next
      if (next === null) {
        if (current !== null) await this.remove(key)
      } else {
        await this.set(key, next, opts)
      }
      return next
    })
  }
  async ping() {
    await guard(() => this.storage.hasItem('meta:ping'))
  }
}

// KEYS[1]: key; ARGV[1]: expected raw value ('' = absent); ARGV[2]: new raw value ('' = delete).
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`

/**
 * The Redis channel every host publishes its writes on, `{origin, key, deleted}`: one per database,
 * since channels are shared by all databases of a server.
 */
const changesChannel = (url: string) => `labvirt:changes:${/^\/(\d+)/.exec(new URL(url).pathname)?.[1] ?? '0'}`

class RedisKv extends BaseKv {
  readonly kind = 'redis' as const
  /** This process, so it can skip its own messages (it emitted them when it wrote). */
  private origin = randomUUID()
  private subscriber: Redis
  constructor(storage: Storage, private client: Redis, private base: string, private channel: string) {
    super(storage)
    // Pub/sub needs a connection of its own. It queues while Redis is down and resubscribes after;
    // what was published meanwhile is lost, so a reconnect says "reread everything" ('*').
    this.subscriber = client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false } as any)
    this.subscriber.on('error', () => {})
    let connectedBefore = false
    this.subscriber.on('ready', () => {
      if (connectedBefore) this.changes.emit('change', { collection: '*', id: '', deleted: false })
      connectedBefore = true
    })
    this.subscriber.on('message', (_channel: string, raw: string) => {
      try {
        const m = JSON.parse(raw) as { origin: string; key: string; deleted: boolean }
        if (m.origin !== this.origin && typeof m.key === 'string') this.changes.emit('change', changeOf(m.key, m.deleted === true))
      } catch {}
    })
    void this.subscriber.subscribe(channel).catch(() => {})
  }

  protected override changed(key: string, deleted: boolean) {
    super.changed(key, deleted)
    // Best effort: a host that misses it still sees the change at its next periodic pass.
    this.client.publish(this.channel, JSON.stringify({ origin: this.origin, key, deleted })).catch(() => {})
  }
  override async close() {
    this.subscriber.disconnect()
    await super.close()
  }
  async update<T>(key: string, fn: (current: T | null) => T | null | Promise<T | null>) {
    const redisKey = `${this.base}:${key}`
    for (;;) {
      const raw = await guard(() => this.client.get(redisKey))
      const current = parse<T>(raw)
      const next = await fn(current)
      if (next === current) return next
      const nextRaw = next === null ? '' : JSON.stringify(next)
      const ok = await guard(() => this.client.eval(CAS_SCRIPT, 1, redisKey, raw ?? '', nextRaw))
      if (ok === 1) {
        this.changed(key, next === null)
        return next
      }
      // Someone else wrote in between: read again and let `fn` decide against the new value.
    }
  }
  async ping() {
    await guard(() => this.client.ping())
  }
  // One round trip for a whole list, instead of a GET per record.
  override async getMany<T>(keys: string[]): Promise<T[]> {
    if (keys.length === 0) return []
    const raws = await guard(() => this.client.mget(keys.map((k) => `${this.base}:${k}`)))
    return raws.map((r) => parse<T>(r)).filter((v) => v !== null)
  }
}

export interface KvOptions {
  /** `redis://...` for Redis; unset for the file store. */
  url?: string
  /** Directory of the file store. */
  dir: string
}

export async function openKv(opts: KvOptions): Promise<Kv> {
  if (opts.url) {
    const base = 'labvirt'
    const driver = redisDriver({
      url: opts.url,
      base,
      // Fail fast while Redis is down (the API answers 503) instead of queueing requests forever;
      // ioredis keeps reconnecting in the background, so the API recovers by itself.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 3000,
      connectTimeout: 3000,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
      lazyConnect: false,
    } as any)
    const client = driver.getInstance!() as Redis
    client.on('error', () => {}) // reported per request as 503; avoid an unhandled 'error' event
    // Commands fail at once until the connection is ready (no offline queue): give it a moment,
    // but start anyway when Redis is down, answering 503 until it comes.
    if (client.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 3000)
        function done() {
          clearTimeout(timer)
          client.off('ready', done)
          resolve()
        }
        client.once('ready', done)
      })
    }
    const storage = createStorage({ driver })
    return new RedisKv(storage, client, base, changesChannel(opts.url))
  }
  const base = join(opts.dir, 'store')
  mkdirSync(base, { recursive: true })
  const unlock = await lockDataDir(opts.dir)
  await sweepTemporaryFiles(base)
  const storage = createStorage({ driver: atomicFsDriver({ base, volatile: VOLATILE }) })
  return new FsKv(storage, unlock, MAY_BE_TORN, VOLATILE)
}
