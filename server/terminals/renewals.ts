import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Repositories } from '#storage'

// A terminal asking again for its seat renews the seat's assignment once a third of the timeout
// has passed. While the assignment holds with time to spare, no other terminal may take the seat
// (broker.ts, `stillThere`), so that write need not hold up the answer: in a storm of terminals
// asking again, hundreds of answers would each wait for a record write. Such renewals are written
// once none came for IDLE_MS (after the storm's answers), begun no later than MAX_DELAY_MS.

const IDLE_MS = 50
export const MAX_DELAY_MS = 1000

/**
 * Whether the renewal of an assignment `age` ms old may wait: only with time to spare before it
 * expires (its batch begins within MAX_DELAY_MS, and writing a storm's worth takes time too).
 */
export const mayRenewLater = (age: number, timeoutMs: number) => age + 2 * MAX_DELAY_MS < timeoutMs

interface Queue {
  /** By seat VM: the terminal renewing it and the time it asked. */
  pending: Map<string, { terminal: string; at: number }>
  since: number
  timer?: NodeJS.Timeout
  writing: Promise<void>
}

const queues = new WeakMap<Repositories, Queue>()

/** Renews `vm`'s assignment to `terminal` as of `at`, soon. */
export function renewLater(store: Repositories, vm: string, terminal: string, at: number) {
  let q = queues.get(store)
  if (!q) queues.set(store, (q = { pending: new Map(), since: 0, writing: Promise.resolve() }))
  const now = Date.now()
  if (q.pending.size === 0) q.since = now
  q.pending.set(vm, { terminal, at })
  clearTimeout(q.timer)
  q.timer = setTimeout(() => void flushRenewals(store), Math.max(0, Math.min(IDLE_MS, q.since + MAX_DELAY_MS - now)))
  q.timer.unref()
}

/** Writes the renewals waiting now; resolves once every renewal queued so far is written. */
export function flushRenewals(store: Repositories): Promise<void> {
  const q = queues.get(store)
  if (!q) return Promise.resolve()
  clearTimeout(q.timer)
  const batch = [...q.pending]
  q.pending.clear()
  q.writing = q.writing.then(async () => {
    for (const [vm, { terminal, at }] of batch) {
      // Only an assignment still this terminal's: one given up (or taken by a pin) meanwhile stays so.
      await store.assignments
        .upsert(vm, (cur) => (cur?.terminal === terminal && Date.parse(cur.at) < at ? { ...cur, at: new Date(at).toISOString() } : undefined))
        .catch((err) => console.error(`[labvirt] ${vm}: renewing its terminal's assignment: ${(err as Error).message}`))
      // Requests waiting meanwhile get their turn between two writes.
      await nextTurn()
    }
  })
  return q.writing
}
