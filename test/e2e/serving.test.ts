import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { adminClient } from '../helpers/client'
import { startServer, type TestServer } from '../helpers/server'

// The console's files as the built server serves them: caching, the SPA fallback and the
// security headers, on pages, assets and errors alike.
let server: TestServer
const OUTPUT = resolve(__dirname, '../..', process.env.LABVIRT_OUTPUT_DIR || '.output')
const script = readdirSync(join(OUTPUT, 'public/assets')).find((f) => /^index-.*\.js$/.test(f))!

beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server?.dispose())

function expectSecurityHeaders(res: Response) {
  const csp = res.headers.get('content-security-policy') ?? ''
  expect(csp).toContain("default-src 'self'")
  expect(csp).toContain("script-src 'self'")
  expect(csp).toContain("connect-src 'self'")
  expect(csp).toContain("frame-ancestors 'none'")
  expect(csp).not.toContain('unsafe-inline')
  expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  expect(res.headers.get('x-frame-options')).toBe('DENY')
  expect(res.headers.get('referrer-policy')).toBe('same-origin')
}

describe('serving the console', () => {
  it('answers index.html, never cached, for / and for client routes', async () => {
    for (const path of ['/', '/labs/x', '/sign-in?next=/labs/x']) {
      const res = await fetch(`${server.url}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('cache-control')).toBe('no-cache')
      const html = await res.text()
      expect(html).toContain(`/assets/${script}`)
      // The CSP allows no inline script: the page has none.
      expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/)
      expectSecurityHeaders(res)
    }
  })

  it('serves hashed assets as immutable, compressed when asked', async () => {
    const res = await fetch(`${server.url}/assets/${script}`, { headers: { 'accept-encoding': 'gzip' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toContain('immutable')
    expect(res.headers.get('cache-control')).toContain('max-age=31536000')
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expectSecurityHeaders(res)
  })

  it('answers 404 for missing files and unknown API paths, with the same headers', async () => {
    const admin = await adminClient(server.url)
    for (const path of ['/assets/missing.js', '/favicon.ico', '/robots.txt']) {
      const res = await fetch(`${server.url}${path}`)
      expect(res.status, path).toBe(404)
      expectSecurityHeaders(res)
    }
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${server.url}/labs/x`, { method, headers: { cookie: admin.cookie, 'content-type': 'application/json' }, body: method === 'DELETE' ? undefined : '{}' })
      // The page is only read: any other method is not allowed.
      expect(res.status, `${method} /labs/x`).toBe(405)
      expectSecurityHeaders(res)
    }
    const api = await fetch(`${server.url}/api/nope`, { headers: { cookie: admin.cookie } })
    expect(api.status).toBe(404)
    expect((await api.json()).message).toBe('Not found')
    // The console's live stream names its language in the query (EventSource sends no header).
    const es = await fetch(`${server.url}/api/nope?lang=es`, { headers: { cookie: admin.cookie, 'accept-language': 'en' } })
    expect((await es.json()).message).toBe('No se encontró')
    expectSecurityHeaders(api)
  })

  it('puts the security headers on API answers and their errors too', async () => {
    expectSecurityHeaders(await fetch(`${server.url}/api/health`))
    const denied = await fetch(`${server.url}/api/labs`)
    expect(denied.status).toBe(401)
    expectSecurityHeaders(denied)
  })
})
