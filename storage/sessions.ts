import type { Kv } from './kv'

export interface Session {
  username: string
  expiresAt: number
}

const PREFIX = 'sessions'
const keyOf = (id: string) => `${PREFIX}:${id}`
const idOf = (key: string) => key.slice(PREFIX.length + 1)

/** Signed-in sessions by id (the domain's hash of the token), each expiring after its TTL. */
export class SessionStore {
  constructor(private kv: Kv) {}

  get(id: string) {
    return this.kv.get<Session>(keyOf(id))
  }

  put(id: string, session: Session, ttlSeconds: number) {
    return this.kv.set(keyOf(id), session, { ttl: ttlSeconds })
  }

  remove(id: string) {
    return this.kv.remove(keyOf(id))
  }

  /** Every session with its id (a gone one, between the listing and its read, is left out). */
  async list(): Promise<[string, Session][]> {
    const keys = await this.kv.keys(PREFIX)
    const sessions = await Promise.all(keys.map((k) => this.kv.get<Session>(k)))
    return keys.flatMap((k, i) => (sessions[i] ? [[idOf(k), sessions[i]!] as [string, Session]] : []))
  }
}
