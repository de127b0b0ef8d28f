import { type H3Event, getRequestHeader } from 'h3'

/**
 * The caller's address: the socket's peer, or the address a trusted proxy saw (the last entry of
 * X-Forwarded-For) when the peer is a
 * proxy we were told to trust (LABVIRT_TRUST_PROXY); anyone else could forge that header.
 */
export function clientAddress(event: H3Event, trustProxy: string[]): string {
  const peer = normalize(event.node.req.socket.remoteAddress ?? '')
  if (trustProxy.includes(peer)) {
    const forwarded = getRequestHeader(event, 'x-forwarded-for')?.split(',').pop()?.trim()
    if (forwarded) return normalize(forwarded)
  }
  return peer
}

/**
 * The scheme the caller used: https on a TLS socket, or what a trusted proxy says it was reached by
 * (X-Forwarded-Proto); a header from anyone else proves nothing.
 */
export function requestProtocol(event: H3Event, trustProxy: string[]): 'http' | 'https' {
  if ((event.node.req.socket as { encrypted?: boolean }).encrypted) return 'https'
  if (!trustProxy.includes(normalize(event.node.req.socket.remoteAddress ?? ''))) return 'http'
  const forwarded = getRequestHeader(event, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
  return forwarded === 'https' ? 'https' : 'http'
}

// An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
function normalize(address: string) {
  return address.startsWith('::ffff:') ? address.slice(7) : address
}
