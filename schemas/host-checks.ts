import type { Quantity } from './msgid'

export type CheckLevel = 'ok' | 'warning' | 'error'

/** One host check's last result; `message` is a msgid and params, translated for each reader. */
export interface CheckResult {
  id: string
  ok: boolean
  level: CheckLevel
  message: { msgid: string; params?: Record<string, string | number | Quantity> }
  checkedAt: string
}

/** A host's latest check results (the `host-checks` collection, by host id), written by that host. */
export interface HostChecks {
  checks: CheckResult[]
}
