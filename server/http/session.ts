import { N_ } from '#schemas/msgid'
import { type H3Event, deleteCookie, getCookie, setCookie } from 'h3'
import { SESSION_COOKIE, SESSION_TTL_S } from '../auth/sessions'
import { AuthError } from '../errors'
import type { Config } from '../config'
import type { Actor } from '../events'
import { requestProtocol } from './client'
import type { User } from '#schemas/users'

export function sessionToken(event: H3Event) {
  return getCookie(event, SESSION_COOKIE)
}

/** The session token from a raw Cookie header: for a WebSocket upgrade, where no h3 event exists. */
export function sessionTokenOf(cookieHeader: string | null | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const at = part.indexOf('=')
    if (at > 0 && part.slice(0, at).trim() === SESSION_COOKIE) return part.slice(at + 1).trim()
  }
  return undefined
}

/** `Secure` when the browser reached us over https: the public URL's scheme, else the request's. */
export function setSessionCookie(event: H3Event, token: string, config: Pick<Config, 'publicUrl' | 'trustProxy'>) {
  const https = config.publicUrl ? config.publicUrl.startsWith('https:') : requestProtocol(event, config.trustProxy) === 'https'
  setCookie(event, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    maxAge: SESSION_TTL_S,
    secure: https,
  })
}

export function clearSessionCookie(event: H3Event) {
  deleteCookie(event, SESSION_COOKIE, { path: '/' })
}

/** The signed-in user, set by the auth middleware. */
export function currentUser(event: H3Event): User {
  const user = event.context.user as User | undefined
  if (!user) throw new AuthError(401, N_('Please sign in'))
  return user
}

export function actorOf(event: H3Event): Actor {
  return { username: currentUser(event).username }
}
