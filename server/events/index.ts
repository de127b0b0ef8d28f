import { randomBytes } from 'node:crypto'
import type { EventRecord, Repositories } from '../../storage'
import { DEFAULT_LANGUAGE, type Language, translate } from '../i18n'

/** Who does something through the API (or `system` for LabVirt itself). */
export interface Actor {
  username: string
}

export const SYSTEM: Actor = { username: 'system' }

// Keys sort by time: a zero-padded millisecond clock, a counter that orders this process's events
// within one millisecond, then randomness so two hosts never collide.
let sequence = 0
function eventKey(now: number) {
  sequence = (sequence + 1) % 1_000_000
  return `events:${String(now).padStart(15, '0')}-${String(sequence).padStart(6, '0')}-${randomBytes(4).toString('hex')}`
}

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
    await store.kv.set(eventKey(Date.parse(event.at)), event)
  } catch (err) {
    console.error('[labvirt] could not record event', event, err)
  }
}

/** The newest events first. */
export async function listEvents(store: Repositories, limit: number, lang: Language = DEFAULT_LANGUAGE): Promise<EventView[]> {
  const keys = await store.kv.keys('events')
  const newest = keys.slice(-limit).reverse()
  return (await store.kv.getMany<EventRecord>(newest)).map((e) => eventView(e, lang))
}

/** The log keeps this many events; older ones are pruned by the hourly sweep. */
export const EVENTS_KEPT = 20_000

export async function pruneEvents(store: Repositories, keep = EVENTS_KEPT): Promise<number> {
  const keys = await store.kv.keys('events')
  const old = keys.slice(0, Math.max(0, keys.length - keep))
  for (const key of old) await store.kv.remove(key)
  return old.length
}
