import { createHash, randomBytes } from 'node:crypto'
import type { Repositories, Session, Stored, StoredUser } from '#storage'

export const SESSION_COOKIE = 'labvirt_session'
export const SESSION_TTL_S = 12 * 3600
/** A user keeps at most this many sessions: a new one ends the oldest (a script logging in in a loop cannot fill the store). */
export const SESSIONS_PER_USER = 20

// The store keeps only a hash of the token, so a copy of the store cannot be replayed as cookies.
const idOf = (token: string) => createHash('sha256').update(token).digest('hex')

export async function createSession(store: Repositories, username: string): Promise<string> {
  const token = randomBytes(32).toString('base64url')
  const session: Session = { username, expiresAt: Date.now() + SESSION_TTL_S * 1000 }
  const older = (await sessionsOf(store, username)).sort((a, b) => a[1].expiresAt - b[1].expiresAt)
  await Promise.all(older.slice(0, Math.max(0, older.length - SESSIONS_PER_USER + 1)).map(([id]) => store.sessions.remove(id)))
  await store.sessions.put(idOf(token), session, SESSION_TTL_S)
  return token
}

async function sessionsOf(store: Repositories, username: string): Promise<[string, Session][]> {
  return (await store.sessions.list()).filter(([, s]) => s.username === username)
}

export async function readSession(store: Repositories, token: string | undefined): Promise<Session | null> {
  if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) return null
  const session = await store.sessions.get(idOf(token))
  if (!session) return null
  if (session.expiresAt < Date.now()) {
    await store.sessions.remove(idOf(token))
    return null
  }
  return session
}

/** The user a session token belongs to, while both exist: what every signed-in request checks. */
export async function userOfSession(store: Repositories, token: string | undefined): Promise<Stored<StoredUser> | null> {
  const session = await readSession(store, token)
  return session ? store.users.get(session.username) : null
}

/**
 * Whether an open stream or console may stay open: its session and user still exist (and the user
 * still has `role`, when given). A store that cannot answer keeps it open: a blip ends no one's work.
 */
export async function stillSignedIn(store: Repositories, token: string | undefined, role?: StoredUser['role']): Promise<boolean> {
  const user = await userOfSession(store, token).catch(() => undefined)
  if (user === undefined) return true
  return !!user && (!role || user.role === role)
}

export async function endSession(store: Repositories, token: string | undefined) {
  if (token && /^[A-Za-z0-9_-]{43}$/.test(token)) await store.sessions.remove(idOf(token))
}

/** Ends every session of a user: on deletion, role change or password change. */
export async function endSessionsOf(store: Repositories, username: string) {
  await Promise.all((await sessionsOf(store, username)).map(([id]) => store.sessions.remove(id)))
}

/** Removes expired sessions (the file store has no TTL of its own). Returns how many. */
export async function sweepExpiredSessions(store: Repositories, now = Date.now()): Promise<number> {
  const expired = (await store.sessions.list()).filter(([, s]) => s.expiresAt < now)
  for (const [id] of expired) await store.sessions.remove(id)
  return expired.length
}
