import type { Kv } from './kv'

interface Lease {
  owner: string
  until: number
}

/**
 * Takes or renews a lease under `key` for `ttlMs`: true while `owner` holds it. Atomic in the store
 * (compare-and-set), so of several hosts sharing one store exactly one holds it at a time; a host
 * that dies loses it when the TTL runs out.
 */
export async function holdLease(kv: Kv, key: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
  let held = false
  await kv.update<Lease>(`leases:${key}`, (cur) => {
    held = !cur || cur.owner === owner || cur.until < now
    return held ? { owner, until: now + ttlMs } : cur
  })
  return held
}
