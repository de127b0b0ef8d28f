import { N_ } from '#schemas/msgid'
import type { H3Event } from 'h3'
import { accessFor, allows } from '../auth/policy'
import { userOfSession } from '../auth/sessions'
import { publicUser } from '../auth/users'
import type { Config } from '../config'
import { useContext } from '../context'
import { AuthError, DomainError } from '../errors'
import type { Repositories } from '#storage'
import { bodyTypeFor, mediaType } from './body-type'
import { clientAddress, requestProtocol } from './client'
import { InFlight } from './in-flight'
import { originAllowed } from './origin'
import { sessionToken } from './session'

// What every request passes before its handler (middleware/guards.ts, and the terminal route's
// shortcut in plugins/09.terminal-route.ts), in this order.

/**
 * A body must arrive within LABVIRT_REQUEST_TIMEOUT of its headers: a client trickling it a byte at
 * a time would otherwise hold a connection (and a handler) for Node's 300 s. Everything LabVirt
 * takes in is small; an idle timeout would not do, since each byte restarts it.
 */
function bodyDeadline(event: H3Event, config: Config) {
  const req = event.node.req
  if (req.complete) return
  const timer = setTimeout(() => req.destroy(), config.requestTimeoutMs)
  timer.unref()
  const done = () => clearTimeout(timer)
  req.once('end', done).once('close', done)
  // An upload's handler lifts it once the session is known (server/http/long-body.ts).
  event.context.releaseBodyDeadline = done
}

const inFlight = new InFlight()

/**
 * One address may not hold more than LABVIRT_MAX_REQUESTS_PER_ADDRESS requests at once (open
 * streams count until they close): a single client cannot take every handler and socket from
 * the forty terminals and the admins. Behind a trusted proxy the address is the one it forwards.
 */
function admitAddress(event: H3Event, config: Config) {
  const address = clientAddress(event, config.trustProxy)
  const release = inFlight.admit(address, config.maxRequestsPerAddress)
  if (!release) {
    throw new DomainError(429, 'too_many_requests', N_('Too many requests at once from {address}; try again shortly'), { address }, { retryAfter: 1 })
  }
  event.node.res.once('close', release)
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Cross-site request forgery: before the session is even looked at, a body must be of its route's
 * one type, and a write must come from this server's own pages (or from no browser at all).
 */
function sameOrigin(event: H3Event, config: Config) {
  const headers = event.node.req.headers
  const contentType = headers['content-type']
  const hasBody = Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined
  if (hasBody || contentType !== undefined) {
    const expected = bodyTypeFor(event.method, event.path)
    if (mediaType(contentType ?? '') !== expected) {
      throw new DomainError(415, 'unsupported_media_type', N_('The body must be sent as {type}'), { type: expected })
    }
  }
  if (SAFE.has(event.method)) return
  if (!originAllowed(headers, { publicUrl: config.publicUrl, protocol: requestProtocol(event, config.trustProxy) })) {
    throw new DomainError(403, 'cross_site', N_('This request comes from another site ({origin}) and was refused'), { origin: headers.origin ?? headers['sec-fetch-site'] ?? '' })
  }
}

/** The route's access (server/auth/policy.ts): the signed-in user, where it needs one. */
async function signedIn(event: H3Event, store: Repositories) {
  const access = accessFor(event.method, event.path)
  if (access === 'public') return
  const user = await userOfSession(store, sessionToken(event))
  if (!user) throw new AuthError(401, N_('Please sign in'))
  event.context.user = publicUser(user)
  if (!allows(access, user.role)) throw new AuthError(403, N_('Your role may not change anything'))
}

export async function guardRequest(event: H3Event) {
  const { config, store } = await useContext()
  bodyDeadline(event, config)
  admitAddress(event, config)
  sameOrigin(event, config)
  await signedIn(event, store)
}
