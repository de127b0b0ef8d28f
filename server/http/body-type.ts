/**
 * The one media type each request body may have: JSON everywhere, except the routes listed here.
 * A cross-site HTML form can only send text/plain, form-encoded or multipart bodies without asking
 * the server first (CORS), so refusing everything but the expected type stops it cold.
 */
const EXCEPTIONS: { method: string; path: RegExp; type: string }[] = [
  // An image's bytes (uploads): raw, not JSON.
  { method: 'PUT', path: /^\/api\/images\/[^/]+\/content$/, type: 'application/octet-stream' },
]

export function bodyTypeFor(method: string, path: string): string {
  const p = path.split('?')[0]!
  return EXCEPTIONS.find((e) => e.method === method && e.path.test(p))?.type ?? 'application/json'
}

/** `application/json; charset=utf-8` -> `application/json`. */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase()
}
