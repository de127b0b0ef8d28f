import { N_ } from '#schemas/msgid'
import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { DomainError } from '#server/errors'
import { bodyTypeFor, mediaType } from '#server/http/body-type'
import { requestProtocol } from '#server/http/client'
import { originAllowed } from '#server/http/origin'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

// Cross-site request forgery: before the session is even looked at, a body must be of its route's
// one type, and a write must come from this server's own pages (or from no browser at all).
export default defineEventHandler(async (event) => {
  const headers = event.node.req.headers
  const contentType = headers['content-type']
  const hasBody = Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined
  const expected = bodyTypeFor(event.method, event.path)
  if ((hasBody || contentType !== undefined) && mediaType(contentType ?? '') !== expected) {
    throw new DomainError(415, 'unsupported_media_type', N_('The body must be sent as {type}'), { type: expected })
  }
  if (SAFE.has(event.method)) return
  const { config } = await useContext()
  if (!originAllowed(headers, { publicUrl: config.publicUrl, protocol: requestProtocol(event, config.trustProxy) })) {
    throw new DomainError(403, 'cross_site', N_('This request comes from another site ({origin}) and was refused'), { origin: headers.origin ?? headers['sec-fetch-site'] ?? '' })
  }
})
