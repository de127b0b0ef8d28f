import { timingSafeEqual } from 'node:crypto'
import { getRequestHeader, type H3Event, setResponseHeader } from 'h3'
import { N_ } from '#schemas/msgid'
import { AuthError } from '../errors'

/** Requires `Authorization: Bearer <token>` when a token is set; compared in constant time. */
export function requireBearer(event: H3Event, token: string | undefined) {
  if (!token) return
  const given = /^Bearer\s+(\S+)$/i.exec(getRequestHeader(event, 'authorization') ?? '')?.[1] ?? ''
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  if (a.length === b.length && timingSafeEqual(a, b)) return
  setResponseHeader(event, 'WWW-Authenticate', 'Bearer')
  throw new AuthError(401, N_('This needs the metrics token (Authorization: Bearer)'))
}
