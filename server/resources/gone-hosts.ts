import type { Repositories } from '#storage'
import { unlessConflict } from '../records'

/**
 * A host that wrote neither figures nor host checks for this long was taken out of service: its
 * records go (the hourly store sweep), so the console stops listing it as stale forever. A host
 * that comes back writes them again at its next sample.
 */
export const HOST_GONE_MS = 7 * 24 * 3600_000

/** Drops the figures and host checks of hosts gone for HOST_GONE_MS. Returns how many records. */
export async function sweepGoneHosts(store: Repositories, now = Date.now()): Promise<number> {
  let removed = 0
  for (const repo of [store.hosts, store.hostChecks]) {
    for (const r of await repo.list()) {
      if (now - Date.parse(r.updatedAt) < HOST_GONE_MS) continue
      // Guarded by its revision: a host writing again meanwhile keeps its record.
      await repo.remove(r.id, r.revision).then(() => removed++, unlessConflict)
    }
  }
  return removed
}
