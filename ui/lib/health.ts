import { ApiError, get } from './api'

/** One host check as GET /api/health gives it to a signed-in caller (the message translated). */
export interface Check { id: string; level: 'ok' | 'warning' | 'error'; message: string; checkedAt: string }

/** One host's checks; `stale`: that host has not written them for minutes (it may be down). */
export interface HostChecks { host: string; local: boolean; stale: boolean; updatedAt?: string; checks: Check[] }

/** Every host's checks, this host first. A 503 is the answer of a host with a failing check: its body still lists them. */
export async function loadHostChecks(): Promise<HostChecks[]> {
  try {
    return (await get<{ hosts?: HostChecks[] }>('/api/health')).hosts ?? []
  } catch (err) {
    const hosts = err instanceof ApiError ? (err.body as { hosts?: HostChecks[] }).hosts : undefined
    if (hosts) return hosts
    throw err
  }
}
