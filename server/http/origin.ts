/** The request headers the same-origin rule reads (Node's `IncomingHttpHeaders` fits). */
export interface OriginHeaders {
  origin?: string
  host?: string
  'sec-fetch-site'?: string
}

// `scheme://host[:port]` as a browser writes it in Origin (default ports dropped), or undefined
// for anything that is not an http(s) origin (`null`, garbage).
function originOf(url: string): string | undefined {
  try {
    const u = new URL(url)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether a request that changes something (or opens a console) may go ahead: a browser always says
 * where it comes from (Origin, Sec-Fetch-Site), and that must be this server, as the browser reached
 * it (`protocol` and the Host header) or as `publicUrl` (LABVIRT_PUBLIC_URL, behind a proxy) names
 * it. A client that sends neither header is no browser (the CLI, curl, a launcher): no cross-site
 * page can make a request without them, so it is allowed.
 */
export function originAllowed(headers: OriginHeaders, own: { publicUrl?: string; protocol?: 'http' | 'https' } = {}): boolean {
  const site = headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false
  if (headers.origin === undefined) return true
  const origin = originOf(headers.origin)
  if (!origin) return false
  if (own.publicUrl && origin === originOf(own.publicUrl)) return true
  return headers.host !== undefined && origin === originOf(`${own.protocol ?? 'http'}://${headers.host}`)
}

/** What the WebSocket origin check needs of an upgrade request. */
export interface RequestLike {
  url: string
  headers: Headers
}

/**
 * The same rule for a WebSocket upgrade, where no CORS applies and browsers always send Origin:
 * here a missing Origin is refused too, so only LabVirt's own pages (or `publicUrl`) open a console.
 */
export function isSameOrigin(req: RequestLike, publicUrl?: string): boolean {
  const origin = req.headers.get('origin')
  if (!origin || !URL.canParse(req.url)) return false
  const url = new URL(req.url)
  const site = req.headers.get('sec-fetch-site') ?? undefined
  return originAllowed({ origin, host: url.host, 'sec-fetch-site': site }, { publicUrl, protocol: url.protocol === 'https:' ? 'https' : 'http' })
}
