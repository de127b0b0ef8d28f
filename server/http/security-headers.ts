import { type H3Event, setResponseHeaders } from 'h3'

// The console is served from here: its scripts, styles and connections (fetch, SSE, the VNC
// WebSocket, which 'self' covers in Chromium) are all same-origin, so nothing else is allowed.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
} as const

/** The security headers every answer carries (API, console, static files and errors alike). */
export function setSecurityHeaders(event: H3Event) {
  setResponseHeaders(event, HEADERS)
}
