import type { IncomingMessage } from 'node:http'
import type { H3Event } from 'h3'

/**
 * The request itself, for a handler that streams a body which may take hours (an image upload,
 * admins only: the session was checked before any of it was read). The body deadline
 * (server/http/guards.ts) is lifted for this request, and so is Node's server-wide
 * `requestTimeout` (300 s), which would cut every longer upload; the middleware's deadline bounds
 * every other body instead. The handler must cut a sender that goes quiet itself.
 */
export function longBody(event: H3Event): IncomingMessage {
  ;(event.context.releaseBodyDeadline as (() => void) | undefined)?.()
  const server = (event.node.req.socket as { server?: { requestTimeout: number } }).server
  if (server && server.requestTimeout !== 0) server.requestTimeout = 0
  return event.node.req
}
