import type { EventFilter } from '#schemas/events'
import type { EventRecord, Repositories } from '#storage'
import { DEFAULT_LANGUAGE, type Language, translate } from '../i18n'

/** Who does something through the API (or `system` for LabVirt itself). */
export interface Actor {
  username: string
}

export const SYSTEM: Actor = { username: 'system' }

/**
 * Appends to the event log. Each event is its own record, so a crash can never tear the log. A
 * failure to log is reported but does not undo or fail the change it describes.
 */
export async function recordEvent(
  store: Repositories,
  actor: Actor,
  action: string,
  kind: string,
  id: string,
  revision?: number,
  message?: EventRecord['message'],
) {
  const event = eventOf(actor, action, kind, id, revision)
  await append(store, message ? { ...event, message } : event)
}

/** An event as the API shows it: its message, if any, in the reader's language. */
export type EventView = Omit<EventRecord, 'message'> & { message?: string }

export function eventView({ message, ...e }: EventRecord, lang: Language): EventView {
  return message ? { ...e, message: translate(lang, message.msgid, message.params) } : e
}

function eventOf(actor: Actor, action: string, kind: string, id: string, revision?: number): EventRecord {
  return { at: new Date().toISOString(), actor: actor.username, action, kind, id, revision }
}

/**
 * Logs a sign-in, a failed one, a refused one or a sign-out (`action`) of `username` from
 * `address`. Nothing the reconciler or dnsmasq follow changed, so it is not announced to them.
 */
export async function recordAccess(store: Repositories, username: string, address: string, action: 'login' | 'login-failed' | 'login-throttled' | 'logout') {
  await append(store, { ...eventOf({ username }, action, 'session', username), address })
}

async function append(store: Repositories, event: EventRecord) {
  try {
    await store.events.append(event)
  } catch (err) {
    console.error('[labvirt] could not record event', event, err)
  }
}

/** An event as the API lists it: with its place in the log, for paging. */
export type ListedEvent = EventView & { cursor: string }

// Keys are read in batches from the newest, so a filter that matches little reads no more than it must.
const BATCH = 500

function matches(e: EventRecord, f: EventFilter) {
  if (f.user && e.actor !== f.user) return false
  if (f.kind && e.kind !== f.kind) return false
  if (!f.q) return true
  const q = f.q.toLowerCase()
  return [e.actor, e.action, e.kind, e.id].some((s) => s.toLowerCase().includes(q))
}

/** The newest `limit` events that pass the filter, newest first, their messages in `lang`. */
export async function listEvents(store: Repositories, limit: number, filter: EventFilter = {}, lang: Language = DEFAULT_LANGUAGE): Promise<ListedEvent[]> {
  let cursors = await store.events.cursors()
  // Cursors sort by time, so a cursor is a cut in the sorted list.
  if (filter.before) cursors = cursors.slice(0, sortedIndex(cursors, filter.before))
  if (filter.after) cursors = cursors.slice(sortedIndex(cursors, `${filter.after}\uffff`))
  const out: ListedEvent[] = []
  for (let end = cursors.length; end > 0 && out.length < limit; end -= BATCH) {
    const batch = cursors.slice(Math.max(0, end - BATCH), end).reverse()
    for (const [cursor, e] of await store.events.read(batch)) {
      if (out.length < limit && matches(e, filter)) out.push({ ...eventView(e, lang), cursor })
    }
  }
  return out
}

/** The first index whose key is not below `key`. */
function sortedIndex(keys: string[], key: string) {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The log keeps this many events; older ones are pruned by the hourly sweep. */
export const EVENTS_KEPT = 20_000

export async function pruneEvents(store: Repositories, keep = EVENTS_KEPT): Promise<number> {
  return store.events.prune(keep)
}
