import type { Repositories } from '#storage'
import type { DomainError } from './errors'

/** A value a record holds that no other record of its kind may hold. */
export interface UniqueValue {
  space: string
  /** The value the record will hold (undefined: none). */
  value: string | undefined
  /** The value it held before this write, released once the write lands. */
  previous?: string
  /** Whether `owner`'s record holds `value` now: a claim whose owner does not is stale. */
  holds: (owner: string) => Promise<boolean>
  /** The 409 naming the owner in the way. */
  conflict: (owner: string) => DomainError
}

/**
 * Writes a record that holds unique values: claims each new value first (atomic in the store, so
 * two concurrent writers cannot both win), then writes, then gives back the values it replaced.
 * If anything fails, the claims it took are given back.
 */
export async function writeUnique<R>(store: Repositories, owner: string, values: UniqueValue[], write: () => Promise<R>): Promise<R> {
  const taken: UniqueValue[] = []
  try {
    for (const u of values) {
      if (!u.value || u.value === u.previous) continue
      const { conflict, fresh } = await store.claims.claim(u.space, u.value, owner, u.holds)
      if (conflict) throw u.conflict(conflict)
      if (fresh) taken.push(u)
    }
    const result = await write()
    for (const u of values) {
      if (u.previous && u.previous !== u.value) await store.claims.release(u.space, u.previous, owner)
    }
    return result
  } catch (err) {
    for (const u of taken) await store.claims.release(u.space, u.value!, owner).catch(() => {})
    throw err
  }
}

/** Gives back the values of a deleted record. */
export async function releaseAll(store: Repositories, owner: string, values: { space: string; value: string | undefined }[]) {
  for (const u of values) if (u.value) await store.claims.release(u.space, u.value, owner)
}
