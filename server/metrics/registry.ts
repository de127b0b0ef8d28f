import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** LabVirt's own registry (not prom-client's global one): what GET /metrics serves. */
export const registry = new Registry()
collectDefaultMetrics({ register: registry, prefix: 'labvirt_' })

export const reconcilePassSeconds = new Histogram({
  name: 'labvirt_reconcile_pass_seconds',
  help: 'How long a reconcile pass took',
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
})

export const reconcileErrors = new Counter({
  name: 'labvirt_reconcile_errors_total',
  help: 'Reconcile passes that failed',
  registers: [registry],
})

export const TERMINAL_OUTCOMES = ['ok', 'pending', 'unavailable', 'refused'] as const
export type TerminalOutcome = (typeof TERMINAL_OUTCOMES)[number]

export const terminalRequests = new Counter({
  name: 'labvirt_terminal_requests_total',
  help: 'GET /api/terminal answers by outcome',
  labelNames: ['outcome'],
  registers: [registry],
})
// Every outcome shows from the start, at 0: a rate() over a series that appears later misses its first hits.
for (const outcome of TERMINAL_OUTCOMES) terminalRequests.inc({ outcome }, 0)
