import { N_ } from '../../schemas/msgid'
import type { Repositories } from '../../storage'
import { IPV4_PATTERN } from '../../schemas/common'
import { guardRecord, mustGet, unlessConflict } from '../records'
import { type Actor, recordEvent } from '../events'

export const PENDING_KIND = N_('pending terminal')

/** A flood of unknown addresses must not fill the store: past this many, new ones are not recorded. */
export const MAX_PENDING = 1000
/** A pending terminal that keeps asking is written again at most this often. */
const REFRESH_MS = 60_000
/** A pending terminal not seen for this long is gone (moved, or switched off for good): the sweep drops it. */
export const PENDING_MAX_AGE_MS = 7 * 24 * 3600_000

/** The pending record's id: the MAC, or else the address, with `-` for separators (see PendingId). */
export const pendingId = (address: string) => address.toLowerCase().replace(/[^a-z0-9]/g, '-')

/**
 * Notes an unknown terminal for an admin to adopt: keyed by its MAC when it said one, else by its
 * IPv4 address (an address no terminal can be given is not worth listing).
 */
export async function recordPending(store: Repositories, ip: string, mac: string | undefined, now = Date.now(), max = MAX_PENDING) {
  if (!mac && !IPV4_PATTERN.test(ip)) return
  const id = pendingId(mac ?? ip)
  const seen = new Date(now).toISOString()
  const cur = await store.pending.get(id)
  if (cur && cur.ip === ip && now - Date.parse(cur.lastSeen) < REFRESH_MS) return
  if (!cur && (await store.kv.keys(store.pending.prefix)).length >= max) return
  await store.pending.upsert(id, (c) => ({ ip, ...(mac ? { mac } : {}), firstSeen: c?.firstSeen ?? seen, lastSeen: seen }))
}

export const listPending = (store: Repositories) => store.pending.list()
export const getPending = (store: Repositories, id: string) => mustGet(store.pending, PENDING_KIND, id)

export async function deletePending(store: Repositories, actor: Actor, id: string) {
  await guardRecord(PENDING_KIND, id, () => store.pending.remove(id))
  await recordEvent(store, actor, 'delete', PENDING_KIND, id)
}

/** Forgets the pending records of addresses a terminal now has. */
export async function dropPending(store: Repositories, addresses: (string | undefined)[]) {
  for (const a of addresses) {
    if (a) await store.pending.remove(pendingId(a)).catch(unlessConflict)
  }
}

/** Drops pending terminals not seen for PENDING_MAX_AGE_MS (the hourly store sweep). Returns how many. */
export async function sweepPending(store: Repositories, now = Date.now()): Promise<number> {
  let removed = 0
  for (const p of await store.pending.list()) {
    if (now - Date.parse(p.lastSeen) < PENDING_MAX_AGE_MS) continue
    await store.pending.remove(p.id).catch(unlessConflict)
    removed++
  }
  return removed
}
