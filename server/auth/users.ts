import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import { RecordConflict, type Repositories, type Stored, type StoredUser } from '#storage'
import type { OwnPassword, User, UserCreate, UserUpdate } from '#schemas/users'
import { AuthError, ConflictError, DomainError, ValidationError } from '../errors'
import { guardRecord, keepName, mustGet } from '../records'
import { type Actor, recordAccess, recordEvent, SYSTEM } from '../events'
import { hashPassword, randomPassword, verifyPassword } from './passwords'
import { createSession, endSession, endSessionsOf, readSession } from './sessions'
import type { LoginThrottle } from './throttle'

const KIND = N_('user')

export function publicUser(u: Stored<StoredUser>): User {
  return { id: u.id, username: u.username, role: u.role, revision: u.revision, createdAt: u.createdAt, updatedAt: u.updatedAt }
}

// Verifying against a throwaway hash when the user does not exist keeps the answer time the same,
// so timing does not tell which usernames exist.
let dummyHash: Promise<string> | undefined

function refuseWhileThrottled(throttle: LoginThrottle, address: string, username: string) {
  const wait = throttle.waitMs(address, username)
  if (wait > 0) {
    throw new DomainError(429, 'too_many_attempts', N_('Too many failed logins; try again in {seconds} s'), { seconds: Math.ceil(wait / 1000) }, { retryAfter: Math.ceil(wait / 1000) })
  }
}

export async function login(
  store: Repositories,
  throttle: LoginThrottle,
  address: string,
  username: string,
  password: string,
): Promise<{ token: string; user: User }> {
  const { waitMs, first } = throttle.check(address, username)
  if (waitMs > 0) {
    if (first) await recordAccess(store, username, address, 'login-throttled')
    const seconds = Math.ceil(waitMs / 1000)
    throw new DomainError(429, 'too_many_attempts', N_('Too many failed logins; try again in {seconds} s'), { seconds }, { retryAfter: seconds })
  }
  // Counted before the password is checked, so that guesses sent all at once are counted too; a
  // success takes it back.
  throttle.fail(address, username)
  const user = /^[a-z][a-z0-9-]*$/.test(username) ? await store.users.get(username) : null
  dummyHash ??= hashPassword(randomPassword())
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash))
  if (!user || !ok) {
    throttle.confirm(address, username)
    await recordAccess(store, username, address, 'login-failed')
    throw new AuthError(401, N_('Wrong username or password'))
  }
  throttle.succeed(address, username)
  const token = await createSession(store, user.id)
  await recordAccess(store, user.id, address, 'login')
  return { token, user: publicUser(user) }
}

/** Ends the session of `token`, if it is one, and logs who left. */
export async function logout(store: Repositories, token: string | undefined, address: string) {
  const session = await readSession(store, token)
  await endSession(store, token)
  if (session) await recordAccess(store, session.username, address, 'logout')
}

export async function listUsers(store: Repositories) {
  return (await store.users.list()).map(publicUser)
}

export async function getUser(store: Repositories, id: string) {
  return publicUser(await mustGet(store.users, KIND, id))
}

export async function createUser(store: Repositories, actor: Actor, input: v.InferOutput<typeof UserCreate>) {
  const passwordHash = await hashPassword(input.password)
  const user = await guardRecord(KIND, input.username, () =>
    store.users.create(input.username, { username: input.username, role: input.role, passwordHash }),
  )
  await recordEvent(store, actor, 'create', KIND, user.id, user.revision)
  return publicUser(user)
}

/**
 * A signed-in user (a viewer too) changes their own password, proving the current one (a wrong
 * one counts as a failed login, so a left-open session cannot be used to guess it). Every session
 * of the user ends; the caller gets a new one, so only this browser stays signed in.
 */
export async function changeOwnPassword(
  store: Repositories,
  throttle: LoginThrottle,
  address: string,
  username: string,
  input: v.InferOutput<typeof OwnPassword>,
): Promise<{ token: string; user: User }> {
  refuseWhileThrottled(throttle, address, username)
  const cur = await mustGet(store.users, KIND, username)
  if (!(await verifyPassword(input.current, cur.passwordHash))) {
    throttle.fail(address, username)
    throw new ValidationError([{ field: 'current', message: N_('Wrong password') }])
  }
  throttle.succeed(address, username)
  const passwordHash = await hashPassword(input.password)
  const user = await guardRecord(KIND, username, () => store.users.update(username, undefined, (u) => ({ username: u.username, role: u.role, passwordHash })), publicUser)
  await endSessionsOf(store, username)
  const token = await createSession(store, username)
  await recordEvent(store, { username }, 'change-password', KIND, username, user.revision)
  return { token, user: publicUser(user) }
}

async function adminsOtherThan(store: Repositories, id: string) {
  return (await store.users.list()).filter((u) => u.role === 'admin' && u.id !== id).length
}

export async function updateUser(store: Repositories, actor: Actor, id: string, input: v.InferOutput<typeof UserUpdate>) {
  keepName(KIND, id, input.username)
  if (input.role === 'viewer' && (await adminsOtherThan(store, id)) === 0) {
    throw new ConflictError(N_('"{id}" is the last administrator'), { id })
  }
  const passwordHash = input.password ? await hashPassword(input.password) : undefined
  const user = await guardRecord(
    KIND,
    id,
    () =>
      store.users.update(id, input.revision, (cur) => ({
        username: cur.username,
        role: input.role ?? cur.role,
        passwordHash: passwordHash ?? cur.passwordHash,
      })),
    publicUser,
  )
  // A new password or a lower role must not leave old sessions holding the old rights.
  if (passwordHash || input.role) await endSessionsOf(store, id)
  await recordEvent(store, actor, 'update', KIND, id, user.revision)
  return publicUser(user)
}

export async function deleteUser(store: Repositories, actor: Actor, id: string, revision?: number) {
  const user = await mustGet(store.users, KIND, id)
  if (user.role === 'admin' && (await adminsOtherThan(store, id)) === 0) {
    throw new ConflictError(N_('"{id}" is the last administrator'), { id })
  }
  await guardRecord(KIND, id, () => store.users.remove(id, revision), publicUser)
  await endSessionsOf(store, id)
  await recordEvent(store, actor, 'delete', KIND, id)
}

/**
 * At start: LABVIRT_ADMIN_PASSWORD creates or resets `admin`; with no users at all and no such
 * variable, `admin` gets a random password, returned so the caller prints it once.
 */
export async function bootstrapAdmin(store: Repositories, password: string | undefined): Promise<string | undefined> {
  if (password) {
    const existing = await store.users.get('admin')
    // Unchanged password and role: nothing to reset, and everyone stays signed in (every host
    // sharing the store runs this at its start).
    if (existing?.role === 'admin' && (await verifyPassword(password, existing.passwordHash))) return undefined
    const passwordHash = await hashPassword(password)
    if (existing) {
      await store.users.update('admin', undefined, () => ({ username: 'admin', role: 'admin', passwordHash }))
      await endSessionsOf(store, 'admin')
      await recordEvent(store, SYSTEM, 'reset-password', KIND, 'admin')
    } else {
      await guardRecord(KIND, 'admin', () => store.users.create('admin', { username: 'admin', role: 'admin', passwordHash }))
      await recordEvent(store, SYSTEM, 'create', KIND, 'admin')
    }
    return undefined
  }
  if (!(await store.users.isEmpty())) return undefined
  const generated = randomPassword()
  try {
    await store.users.create('admin', { username: 'admin', role: 'admin', passwordHash: await hashPassword(generated) })
  } catch (err) {
    if (err instanceof RecordConflict) return undefined // another host created it first
    throw err
  }
  await recordEvent(store, SYSTEM, 'create', KIND, 'admin')
  return generated
}
