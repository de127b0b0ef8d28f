import { discoverRoutes, type Route } from '../helpers/routes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request as httpRequest } from 'node:http'
import { ApiClient, adminClient } from '../helpers/client'
import { bodies, uniqueName } from '../helpers/fixtures'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'
import { bodyTypeFor } from '#server/http/body-type'

// Who may call what, checked over HTTP against the built server for EVERY route file under routes/:
// a new route is covered the moment its file exists. Then the session cookie, the login throttle,
// logout, and how the first administrator comes to be.

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** Public by the rules (not by reading server/auth/policy.ts, which this checks). */
function isPublic(path: string) {
  if (!path.startsWith('/api/') && path !== '/api') return true
  return path === '/api/health' || path === '/api/auth/login' || path === '/api/terminal' || path.startsWith('/api/terminal/')
}

/** Reads that only an administrator may make, by the rules: a VM's screen. */
const isAdminRead = (path: string) => /^\/api\/vms\/[^/]+\/(?:console|vnc)$/.test(path)

// A file without a method suffix answers every method: check a read and a write.
const ROUTES = discoverRoutes(['GET', 'POST'])
const label = (r: Route) => `${r.method} ${r.pattern} (${r.file})`

/** A body the route would accept if it were an admin's (a viewer or a stranger must be refused before it matters). */
function plausibleBody(route: Route): unknown {
  if (route.method === 'GET' || route.method === 'HEAD' || route.method === 'DELETE') return undefined
  // Malformed, so no login failure is counted (and a public route must not answer 401 to it).
  if (route.pattern === '/api/auth/login') return {}
  const kind = route.pattern.split('/')[2]
  if (kind === 'images') return bodies.image()
  if (kind === 'clients') return bodies.client()
  if (kind === 'users') return bodies.user()
  return {}
}

/** Sends `body` as the one media type the route takes (an upload's is bytes, not JSON). */
function call(client: ApiClient, r: Route, path: string, body: unknown) {
  const type = bodyTypeFor(r.method, path)
  if (body === undefined || type === 'application/json') return client.request(r.method, path, body)
  return client.request(r.method, path, undefined, { raw: 'not an image', headers: { 'content-type': type } })
}

let server: TestServer
let admin: ApiClient
let viewer: ApiClient
let viewerName: string

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  viewerName = uniqueName('viewer')
  const created = await admin.post('/api/users', { ...bodies.user(viewerName), role: 'viewer' })
  expect(created.status, JSON.stringify(created.body)).toBe(201)
  viewer = await new ApiClient(server.url).login(viewerName, bodies.user().password)
})

afterAll(async () => {
  await server?.dispose()
})

describe('the route table', () => {
  it('finds the routes the server has', () => {
    const names = ROUTES.map((r) => `${r.method} ${r.pattern}`)
    expect(names).toContain('POST /api/auth/login')
    expect(names).toContain('GET /api/labs')
    expect(names).toContain('PUT /api/labs/[id]')
    expect(names).toContain('GET /api/health')
    expect(ROUTES.length).toBeGreaterThanOrEqual(10)
  })
})

describe('without a session', () => {
  it.each(ROUTES.map((r) => ({ r, name: label(r) })))('$name', async ({ r }) => {
    const res = await call(new ApiClient(server.url), r, r.path, plausibleBody(r))
    if (isPublic(r.path)) {
      expect(res.status, JSON.stringify(res.body)).not.toBe(401)
      expect(res.status).toBeLessThan(500)
    } else {
      expect(res.status, JSON.stringify(res.body)).toBe(401)
      expect(res.body?.error).toBe('unauthenticated')
      expect(typeof res.body?.message).toBe('string')
    }
  })

  it('a forged or malformed cookie is no session', async () => {
    for (const cookie of ['labvirt_session=', 'labvirt_session=abc', `labvirt_session=${'A'.repeat(43)}`, `labvirt_session=${'A'.repeat(10_000)}`, 'labvirt_session=../../etc/passwd', 'other=1']) {
      const res = await new ApiClient(server.url).request('GET', '/api/labs', undefined, { headers: { cookie } })
      expect(res.status, cookie).toBe(401)
    }
  })

  // fetch() resolves `..` itself; a raw request sends the path as written.
  it.each([
    '/api/terminal/../labs',
    '/api/terminal/%2e%2e/labs',
    '/api/terminal%2f..%2flabs',
    '/api/health/../labs',
    '/api/health%2f..%2flabs',
    '/api/auth/login/../../labs',
    '//api/labs',
    '/api//labs',
    '/api/labs/',
    '/api/%6cabs',
    '/API/labs',
    '/api/users/..%2fusers',
  ])('the odd path %s does not slip past the guard', async (path) => {
    const status = await new Promise<number>((ok, fail) => {
      const req = httpRequest(`${server.url}/`, { path, method: 'GET' }, (res) => {
        res.resume()
        ok(res.statusCode!)
      })
      req.on('error', fail)
      req.end()
    })
    expect([401, 404], `${path} answered ${status}`).toContain(status)
  })
})

describe('as a viewer', () => {
  const reads = ROUTES.filter((r) => !WRITES.has(r.method) && !isPublic(r.path) && !isAdminRead(r.path))
  // Logout and one's own password are writes any signed-in user may do.
  const writes = ROUTES.filter((r) => (WRITES.has(r.method) || isAdminRead(r.path)) && !isPublic(r.path) && r.pattern !== '/api/auth/logout' && r.pattern !== '/api/auth/password')

  it.each(reads.map((r) => ({ r, name: label(r) })))('may read: $name', async ({ r }) => {
    const res = await viewer.request(r.method, r.path)
    expect([401, 403], `${r.method} ${r.path} answered ${res.status} ${JSON.stringify(res.body)}`).not.toContain(res.status)
    expect(res.status).toBeLessThan(500)
  })

  it.each(writes.map((r) => ({ r, name: label(r) })))('may not write (or see a screen): $name', async ({ r }) => {
    const res = await call(viewer, r, r.path, plausibleBody(r))
    expect(res.status, JSON.stringify(res.body)).toBe(403)
    expect(res.body?.error).toBe('forbidden')
  })

  it('is refused a write even to a record that exists, and nothing changes', async () => {
    const before = await admin.get(`/api/users/${viewerName}`)
    const res = await viewer.put(`/api/users/${viewerName}`, { ...before.body, role: 'admin' })
    expect(res.status).toBe(403)
    expect((await admin.get(`/api/users/${viewerName}`)).body).toEqual(before.body)
    const del = await viewer.delete(`/api/users/${viewerName}`)
    expect(del.status).toBe(403)
    expect((await admin.get(`/api/users/${viewerName}`)).status).toBe(200)
  })

  it('sees itself at /api/auth/me, without a password hash', async () => {
    const res = await viewer.get('/api/auth/me')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: viewerName, username: viewerName, role: 'viewer' })
    expect(JSON.stringify(res.body)).not.toMatch(/hash|password|scrypt/i)
  })

  it('may log out (a write every signed-in user may do)', async () => {
    const own = await new ApiClient(server.url).login(viewerName, bodies.user().password)
    const res = await own.post('/api/auth/logout')
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300)
    expect((await own.get('/api/auth/me')).status).toBe(401)
    // Another session of the same user is untouched.
    expect((await viewer.get('/api/auth/me')).status).toBe(200)
  })
})

describe('as an administrator', () => {
  it('every read answers without 401/403', async () => {
    // Public routes are the guard's business only without a session (above): /api/terminal
    // answers 403 to an address no terminal has, whoever calls.
    for (const r of ROUTES.filter((x) => !WRITES.has(x.method) && !isPublic(x.path))) {
      const res = await admin.request(r.method, r.path)
      expect([401, 403], `${r.method} ${r.path}: ${res.status}`).not.toContain(res.status)
      expect(res.status, `${r.method} ${r.path}`).toBeLessThan(500)
    }
  })

  it('every write passes the guard (answers neither 401 nor 403)', async () => {
    for (const r of ROUTES.filter((x) => WRITES.has(x.method) && x.pattern !== '/api/auth/logout' && x.pattern !== '/api/auth/login')) {
      // Bodies that cannot succeed, so nothing is created: the point is only that the guard lets them in.
      const res = await call(admin, r, r.path.replace(/x1/g, 'no-such-x1'), r.method === 'DELETE' ? undefined : { unknownField: true })
      expect([401, 403], `${r.method} ${r.path}: ${res.status} ${JSON.stringify(res.body)}`).not.toContain(res.status)
      expect(res.status, `${r.method} ${r.path}: ${JSON.stringify(res.body)}`).toBeLessThan(500)
    }
  })
})

describe('login', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie and shows the user', async () => {
    const res = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    })
    expect(res.status).toBe(200)
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/^labvirt_session=[A-Za-z0-9_-]{20,};/)
    expect(cookie).toMatch(/;\s*HttpOnly/i)
    expect(cookie).toMatch(/;\s*SameSite=Strict/i)
    expect(cookie).toMatch(/;\s*Path=\//i)
    // Plain HTTP: a Secure cookie would never come back.
    expect(cookie).not.toMatch(/;\s*Secure/i)
    const body = await res.json()
    expect(body).toMatchObject({ username: 'admin', role: 'admin' })
    expect(JSON.stringify(body)).not.toMatch(/hash|password/i)
    const me = await new ApiClient(server.url).request('GET', '/api/auth/me', undefined, { headers: { cookie: cookie.split(';')[0]! } })
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ id: 'admin', username: 'admin', role: 'admin' })
  })

  it('the password from LABVIRT_ADMIN_PASSWORD works', async () => {
    const res = await new ApiClient(server.url).post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
    expect(res.status).toBe(200)
  })

  it('a wrong password, or a user that does not exist, is 401 and sets no cookie', async () => {
    for (const body of [
      { username: 'admin', password: `${ADMIN_PASSWORD}x` },
      { username: 'admin', password: '' },
      { username: 'nobody-here', password: ADMIN_PASSWORD },
      { username: 'ADMIN', password: ADMIN_PASSWORD },
    ]) {
      const res = await fetch(`${server.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      expect(res.status, JSON.stringify(body)).toBe(401)
      expect(res.headers.get('set-cookie')).toBeNull()
      expect((await res.json()).error).toBe('unauthenticated')
    }
    // Four failures, then a success: the count starts again.
    expect((await new ApiClient(server.url).post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(200)
  })

  it('logout ends the session: the same cookie is refused afterwards', async () => {
    const api = await new ApiClient(server.url).login()
    const cookie = api.cookie
    expect((await api.get('/api/labs')).status).toBe(200)
    const out = await api.post('/api/auth/logout')
    expect(out.status).toBeLessThan(300)
    // The server clears the cookie, but a copy of the old one must not work either.
    const replay = await new ApiClient(server.url).request('GET', '/api/labs', undefined, { headers: { cookie } })
    expect(replay.status).toBe(401)
    expect((await new ApiClient(server.url).request('GET', '/api/auth/me', undefined, { headers: { cookie } })).status).toBe(401)
  })
})

describe('the login throttle', () => {
  let throttled: TestServer
  beforeAll(async () => {
    // Its own server: the failures below must not slow down the other tests' logins.
    throttled = await startServer()
  })
  afterAll(async () => {
    await throttled?.dispose()
  })

  it('after 5 failures from one address, the 6th attempt is 429 with Retry-After, even with the right password', async () => {
    const api = new ApiClient(throttled.url)
    for (let i = 1; i <= 5; i++) {
      const res = await api.post('/api/auth/login', { username: 'admin', password: `wrong-${i}` })
      expect(res.status, `failure ${i}`).toBe(401)
    }
    const sixth = await api.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
    expect(sixth.status, JSON.stringify(sixth.body)).toBe(429)
    const retryAfter = Number(sixth.headers.get('retry-after'))
    expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${sixth.headers.get('retry-after')}`).toBe(true)
    expect(sixth.headers.get('set-cookie')).toBeNull()
    expect(sixth.body.message).toMatch(/\d/)

    // Once the wait is over the right password works, and clears the count.
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100))
    const ok = await api.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
  })

  it('the waits double: a failure after the first wait asks for a longer one', async () => {
    const api = new ApiClient(throttled.url)
    for (let i = 1; i <= 5; i++) expect((await api.post('/api/auth/login', { username: 'admin', password: 'nope-nope' })).status).toBe(401)
    const first = await api.post('/api/auth/login', { username: 'admin', password: 'nope-nope' })
    expect(first.status).toBe(429)
    const wait1 = Number(first.headers.get('retry-after'))
    await new Promise((r) => setTimeout(r, wait1 * 1000 + 100))
    // Allowed again, and wrong again: the 6th failure.
    expect((await api.post('/api/auth/login', { username: 'admin', password: 'nope-nope' })).status).toBe(401)
    const second = await api.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
    expect(second.status).toBe(429)
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(wait1)
    // A session made before keeps working meanwhile: the throttle is about logins only.
  }, 30_000)
})

describe('the first administrator', () => {
  it('a server with no users and no LABVIRT_ADMIN_PASSWORD prints a random password once, and it works', async () => {
    const fresh = await startServer({ LABVIRT_ADMIN_PASSWORD: '' })
    try {
      let match: RegExpMatchArray | null = null
      for (let i = 0; i < 100 && !match; i++) {
        match = fresh.output().match(/user "admin" with password (\S+)/)
        if (!match) await new Promise((r) => setTimeout(r, 50))
      }
      expect(match, fresh.output()).not.toBeNull()
      const password = match![1]!
      expect(password.length).toBeGreaterThanOrEqual(12)
      expect(password).not.toBe(ADMIN_PASSWORD)
      const res = await new ApiClient(fresh.url).post('/api/auth/login', { username: 'admin', password })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(res.body).toMatchObject({ username: 'admin', role: 'admin' })
      expect((await new ApiClient(fresh.url).post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(401)

      // Started again on the same data: no new password, the printed one still works.
      await fresh.restart()
      await new Promise((r) => setTimeout(r, 300))
      expect(fresh.output().match(/with password/g)?.length, fresh.output()).toBe(1)
      expect((await new ApiClient(fresh.url).post('/api/auth/login', { username: 'admin', password })).status).toBe(200)
    } finally {
      await fresh.dispose()
    }
  })

  it('LABVIRT_ADMIN_PASSWORD resets the password of an existing admin and prints nothing', async () => {
    const srv = await startServer({ LABVIRT_ADMIN_PASSWORD: 'first-password-1' })
    try {
      expect((await new ApiClient(srv.url).post('/api/auth/login', { username: 'admin', password: 'first-password-1' })).status).toBe(200)
      srv.env.LABVIRT_ADMIN_PASSWORD = 'second-password-2'
      await srv.restart()
      expect((await new ApiClient(srv.url).post('/api/auth/login', { username: 'admin', password: 'second-password-2' })).status).toBe(200)
      expect((await new ApiClient(srv.url).post('/api/auth/login', { username: 'admin', password: 'first-password-1' })).status).toBe(401)
      expect(srv.output()).not.toMatch(/with password/)
    } finally {
      await srv.dispose()
    }
  })
})
