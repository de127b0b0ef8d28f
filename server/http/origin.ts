/** What an origin check needs of a request: an h3 event's web request or a WebSocket upgrade's. */
export interface RequestLike {
  url: string
  headers: Headers
}

/**
 * Whether a request comes from LabVirt's own pages: its `Origin` is exactly the origin (scheme,
 * host and port) the request was sent to, or one of `alsoAllowed` (a configured public URL). A
 * request without `Origin` is refused: browsers always send it where it matters (WebSockets, to
 * which no CORS applies), so only a page of another site can be the difference.
 */
export function isSameOrigin(req: RequestLike, alsoAllowed: readonly string[] = []): boolean {
  const origin = req.headers.get('origin')
  if (!origin) return false
  let own: string
  try {
    own = new URL(req.url).origin
  } catch {
    return false
  }
  return origin === own || alsoAllowed.some((url) => URL.canParse(url) && new URL(url).origin === origin)
}
