import type { Repositories } from '#storage'
import { unlessConflict } from '../records'

/**
 * A host's figures or host checks not written for this long are of a host taken out of service:
 * each such record goes (the hourly store sweep), so the console stops listing it as stale
 * forever. A host that comes back writes them again at its next sample and check run.
 */
export const HOST_GONE_MS = 7 * 24 * 3600_000

/** Drops the figures and host-check records not written for HOST_GONE_MS. Returns how many. */
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
