import type { Frozen } from './frozen'
import type { Kv, WriteOptions } from './kv'

/** Fields every stored record carries. `revision` grows by one on each write. */
export interface RecordMeta {
  id: string
  revision: number
  createdAt: string
  updatedAt: string
}

export type Stored<T> = T & RecordMeta

/** Why a repository write was refused; the domain turns these into 404/409. */
export class RecordConflict extends Error {
  constructor(public reason: 'exists' | 'missing' | 'stale', public current?: RecordMeta) {
    super(reason)
    this.name = 'RecordConflict'
  }
}

/**
 * A typed collection under one key prefix (`labs:<id>`). Writes are atomic per record and guarded
 * by revision, so two writers holding the same revision cannot both win.
 */
export class Repository<T extends object> {
  constructor(private kv: Kv, readonly prefix: string) {}

  private key(id: string) { return `${this.prefix}:${id}` }

  async list(): Promise<Stored<T>[]> {
    const keys = await this.kv.keys(this.prefix)
    const items = await this.kv.getMany<Stored<T>>(keys)
    return items.sort((a, b) => a.id.localeCompare(b.id))
  }

  /** Whether the collection holds no record (one listing of keys, no reads). */
  async isEmpty(): Promise<boolean> {
    return (await this.kv.keys(this.prefix)).length === 0
  }

  get(id: string): Promise<Stored<T> | null> {
    return this.kv.get<Stored<T>>(this.key(id))
  }

  /** The record as `get` reads it, frozen and shared (see Kv.peek): for paths that only read. */
  peek(id: string): Promise<Frozen<Stored<T>> | null> {
    return this.kv.peek<Stored<T>>(this.key(id))
  }

  async create(id: string, data: T): Promise<Stored<T>> {
    const now = new Date().toISOString()
    const record = { ...data, id, revision: 1, createdAt: now, updatedAt: now } as Stored<T>
    await this.kv.update<Stored<T>>(this.key(id), (cur) => {
      if (cur) throw new RecordConflict('exists', cur)
      return record
    })
    return record
  }

  /**
   * Replaces the record's data if its revision is still `revision` (any revision when undefined).
   * `{durable: false}`: a write not worth an fsync (see WriteOptions).
   */
  async update(id: string, revision: number | undefined, change: (cur: Stored<T>) => T | Promise<T>, opts?: WriteOptions): Promise<Stored<T>> {
    const next = await this.kv.update<Stored<T>>(this.key(id), async (cur) => {
      if (!cur) throw new RecordConflict('missing')
      if (revision !== undefined && cur.revision !== revision) throw new RecordConflict('stale', cur)
      const data = await change(cur)
      return {
        ...data,
        id,
        revision: cur.revision + 1,
        createdAt: cur.createdAt,
        updatedAt: new Date().toISOString(),
      } as Stored<T>
    }, opts)
    return next!
  }

  /**
   * Atomically writes `change(current)`, creating the record if there is none; `null` from
   * `change` removes it, `undefined` leaves it as it is. Returns the record as it is afterwards.
   */
  async upsert(id: string, change: (cur: Stored<T> | null) => T | null | undefined | Promise<T | null | undefined>): Promise<Stored<T> | null> {
    return this.kv.update<Stored<T>>(this.key(id), async (cur) => {
      const data = await change(cur)
      if (data === undefined) return cur
      if (data === null) return null
      const now = new Date().toISOString()
      return { ...data, id, revision: (cur?.revision ?? 0) + 1, createdAt: cur?.createdAt ?? now, updatedAt: now } as Stored<T>
    })
  }

  async remove(id: string, revision?: number): Promise<Stored<T>> {
    let removed: Stored<T> | undefined
    await this.kv.update<Stored<T>>(this.key(id), (cur) => {
      if (!cur) throw new RecordConflict('missing')
      if (revision !== undefined && cur.revision !== revision) throw new RecordConflict('stale', cur)
      removed = cur
      return null
    })
    return removed!
  }
}
