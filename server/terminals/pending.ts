import { N_ } from '#schemas/msgid'
import type { Repositories } from '#storage'
import { IPV4_PATTERN } from '#schemas/common'
import { guardRecord, mustGet, unlessConflict } from '../records'
import { type Actor, recordEvent } from '../events'

export const PENDING_KIND = N_('pending terminal')

/** A flood of unknown terminals must not fill the store: past this many, the oldest seen goes. */
export const MAX_PENDING = 1000
/** One address naming many MACs is one caller making them up: it keeps only its latest few. */
export const MAX_PENDING_PER_ADDRESS = 4
/** A pending terminal that keeps asking is written again at most this often. */
const REFRESH_MS = 60_000
/** A pending terminal not seen for this long is gone (moved, or switched off for good): the sweep drops it. */
export const PENDING_MAX_AGE_MS = 7 * 24 * 3600_000

/** The pending record's id: the MAC, or else the address, with `-` for separators (see PendingId). */
export const pendingId = (address: string) => address.toLowerCase().replace(/[^a-z0-9]/g, '-')

/**
 * Notes an unknown terminal for an admin to adopt: keyed by its MAC when it said one, else by its
 * IPv4 address (an address no terminal can be given is not worth listing). A new one makes room
 * by dropping the oldest seen, of its own address first: a flood cannot keep a real terminal that
 * asked from being listed.
 */
export async function recordPending(store: Repositories, ip: string, mac: string | undefined, now = Date.now(), max = MAX_PENDING, perAddress = MAX_PENDING_PER_ADDRESS) {
  if (!mac && !IPV4_PATTERN.test(ip)) return
  const id = pendingId(mac ?? ip)
  const seen = new Date(now).toISOString()
  const cur = await store.pending.get(id)
  if (cur && cur.ip === ip && now - Date.parse(cur.lastSeen) < REFRESH_MS) return
  if (!cur) await makeRoom(store, ip, max, perAddress)
  await store.pending.upsert(id, (c) => ({ ip, ...(mac ? { mac } : {}), firstSeen: c?.firstSeen ?? seen, lastSeen: seen }))
}

async function makeRoom(store: Repositories, ip: string, max: number, perAddress: number) {
  const byAge = (await store.pending.list()).sort((a, b) => Date.parse(a.lastSeen) - Date.parse(b.lastSeen))
  const sameAddress = byAge.filter((p) => p.ip === ip)
  const drop = new Set(sameAddress.slice(0, Math.max(0, sameAddress.length - perAddress + 1)))
  for (const p of byAge) {
    if (byAge.length - drop.size < max) break
    drop.add(p)
  }
  for (const p of drop) await store.pending.remove(p.id).catch(unlessConflict)
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
