import { randomBytes } from 'node:crypto'
import type { Kv } from './kv'

export interface EventRecord {
  at: string
  actor: string
  action: string
  kind: string
  id: string
  revision?: number
  /** The caller's address, for sign-ins and sign-outs. */
  address?: string
  /** What happened, in words: a msgid and its params, translated for each reader. */
  message?: { msgid: string; params?: Record<string, string | number> }
}

/** The collection the log's records are under: a change there (StoreChange) is a new event. */
export const EVENTS = 'events'
const keyOf = (cursor: string) => `${EVENTS}:${cursor}`

// Cursors sort by time: a zero-padded millisecond clock, a counter that orders this process's events
// within one millisecond, then randomness so two hosts never collide.
let sequence = 0
function cursorAt(now: number) {
  sequence = (sequence + 1) % 1_000_000
  return `${String(now).padStart(15, '0')}-${String(sequence).padStart(6, '0')}-${randomBytes(4).toString('hex')}`
}

/**
 * The event log: each event is its own record under a cursor that sorts by time, so a crash can
 * never tear the log and a cursor is a place to page from.
 */
export class EventLog {
  constructor(private kv: Kv) {}

  async append(event: EventRecord) {
    await this.kv.set(keyOf(cursorAt(Date.parse(event.at))), event)
  }

  /** Every cursor, oldest first. */
  async cursors(): Promise<string[]> {
    return (await this.kv.keys(EVENTS)).map((k) => k.slice(EVENTS.length + 1))
  }

  /** The events at `cursors`, in their order, each paired with its cursor (a pruned one is left out). */
  async read(cursors: string[]): Promise<[string, EventRecord][]> {
    const records = await Promise.all(cursors.map((c) => this.kv.get<EventRecord>(keyOf(c))))
    return cursors.flatMap((c, i) => (records[i] ? [[c, records[i]!] as [string, EventRecord]] : []))
  }

  /** The events at `cursors` in one read where the store can (a pruned one is left out). */
  records(cursors: string[]): Promise<EventRecord[]> {
    return this.kv.getMany<EventRecord>(cursors.map(keyOf))
  }

  /** Removes all but the newest `keep` events; returns how many went. */
  async prune(keep: number): Promise<number> {
    const cursors = await this.cursors()
    const old = cursors.slice(0, Math.max(0, cursors.length - keep))
    for (const c of old) await this.kv.remove(keyOf(c))
    return old.length
  }
}
