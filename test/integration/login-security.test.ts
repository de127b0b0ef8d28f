import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient, adminClient } from '../helpers/client'
import { bodies, uniqueName } from '../helpers/fixtures'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'

// What a password guesser and a login script run into: the throttle counts per address and per
// username, sign-ins and their failures are in the event log, a user's sessions are capped, and the
// password hashing of a flood of logins is capped so the rest of the API keeps answering.

const PASSWORD = bodies.user().password

async function newViewer(admin: ApiClient) {
  const name = uniqueName('viewer')
  const res = await admin.post('/api/users', { ...bodies.user(name), role: 'viewer' })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return name
}

describe('the login throttle', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it('a valid login of another user in between does not reset the count of wrong admin passwords', async () => {
    const viewer = await newViewer(await adminClient(server.url))
    const api = new ApiClient(server.url)
    const statuses: number[] = []
    for (let i = 1; i <= 24; i++) {
      statuses.push((await api.post('/api/auth/login', { username: 'admin', password: `wrong-${i}` })).status)
      if (i % 4 === 0) await api.post('/api/auth/login', { username: viewer, password: PASSWORD })
    }
    // The first 5 are told they are wrong; then the waits start, and the viewer's logins in between
    // do not end them (a slow machine may get one more guess in once a 1 s or 2 s wait is over).
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
    expect(statuses.filter((s) => s === 429).length, statuses.join(' ')).toBeGreaterThanOrEqual(16)
  })

  it('one username guessed from many addresses is slowed down too', async () => {
    const proxied = await startServer({ LABVIRT_TRUST_PROXY: '127.0.0.1' })
    try {
      const from = (i: number) => ({ headers: { 'x-forwarded-for': `192.0.2.${i}` } })
      const api = new ApiClient(proxied.url)
      for (let i = 1; i <= 5; i++) {
        expect((await api.request('POST', '/api/auth/login', { username: 'admin', password: 'wrong' }, from(i))).status).toBe(401)
      }
      expect((await api.request('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD }, from(99))).status).toBe(429)
    } finally {
      await proxied.dispose()
    }
  })
})

describe('the event log', () => {
  let server: TestServer
  let admin: ApiClient
  beforeAll(async () => {
    server = await startServer({ LABVIRT_TRUST_PROXY: '127.0.0.1' })
    admin = await adminClient(server.url)
  })
  afterAll(async () => {
    await server?.dispose()
  })

  const events = async () => (await admin.get('/api/events?limit=1000')).body as { actor: string; action: string; kind: string; id: string; address?: string }[]

  it('a failed login of a user that does not exist is recorded under the name tried', async () => {
    // From another address (through the trusted proxy): its failure must not count for the other test.
    await new ApiClient(server.url).request('POST', '/api/auth/login', { username: 'nobody-here', password: 'x' }, { headers: { 'x-forwarded-for': '192.0.2.7' } })
    expect((await events()).find((e) => e.id === 'nobody-here')).toMatchObject({ action: 'login-failed', actor: 'nobody-here', address: '192.0.2.7' })
  })

  it('records logins, failed logins, the start of a throttle and logouts, with who and from where', async () => {
    const viewer = await newViewer(admin)
    const api = await new ApiClient(server.url).login(viewer, PASSWORD)
    await api.post('/api/auth/logout')
    const guesser = new ApiClient(server.url)
    for (let i = 0; i < 5; i++) await guesser.post('/api/auth/login', { username: viewer, password: 'wrong' })
    for (let i = 0; i < 3; i++) expect((await guesser.post('/api/auth/login', { username: viewer, password: 'wrong' })).status).toBe(429)

    const mine = (await events()).filter((e) => e.id === viewer && e.kind === 'session').reverse()
    expect(mine.map((e) => e.action)).toEqual(['login', 'logout', ...Array(5).fill('login-failed'), 'login-throttled'])
    for (const e of mine) expect(e).toMatchObject({ actor: viewer, address: '127.0.0.1' })
  })
})

describe('sessions', () => {
  it('a user keeps the 20 newest: logging in a 21st time ends the oldest', async () => {
    const server = await startServer()
    try {
      const viewer = await newViewer(await adminClient(server.url))
      const clients: ApiClient[] = []
      for (let i = 0; i < 25; i++) clients.push(await new ApiClient(server.url).login(viewer, PASSWORD))
      const statuses = await Promise.all(clients.map(async (c) => (await c.get('/api/auth/me')).status))
      expect(statuses).toEqual([...Array(5).fill(401), ...Array(20).fill(200)])
    } finally {
      await server.dispose()
    }
  })

  it('the cookie is Secure only when a trusted proxy or the public URL says https', async () => {
    const cookieOf = async (env: Record<string, string>) => {
      const server = await startServer(env)
      try {
        const res = await new ApiClient(server.url).request('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD }, { headers: { 'x-forwarded-proto': 'https' } })
        expect(res.status).toBe(200)
        return res.headers.get('set-cookie') ?? ''
      } finally {
        await server.dispose()
      }
    }
    expect(await cookieOf({})).not.toMatch(/;\s*Secure/i)
    expect(await cookieOf({ LABVIRT_TRUST_PROXY: '127.0.0.1' })).toMatch(/;\s*Secure/i)
    expect(await cookieOf({ LABVIRT_PUBLIC_URL: 'https://labs.example.edu' })).toMatch(/;\s*Secure/i)
    expect(await cookieOf({ LABVIRT_PUBLIC_URL: 'http://labs.example.edu', LABVIRT_TRUST_PROXY: '127.0.0.1' })).not.toMatch(/;\s*Secure/i)
  })
})

describe('a flood of logins', () => {
  it('from 200 addresses at once: the hashing waits in line, the excess gets 503 with Retry-After, and the API keeps answering', async () => {
    const server = await startServer({ LABVIRT_TRUST_PROXY: '127.0.0.1' })
    try {
      const admin = await adminClient(server.url)
      const flood = Array.from({ length: 200 }, (_, i) =>
        new ApiClient(server.url).request('POST', '/api/auth/login', { username: `user-${i}`, password: 'wrong' }, {
          headers: { 'x-forwarded-for': `198.51.100.${i + 1}` },
        }),
      )
      const labs = await admin.get('/api/labs')
      const answers = await Promise.all(flood)
      expect(labs.status).toBe(200)
      const busy = answers.filter((a) => a.status === 503)
      expect(busy.length, JSON.stringify(answers.map((a) => a.status))).toBeGreaterThan(0)
      expect(answers.every((a) => a.status === 401 || a.status === 503)).toBe(true)
      for (const a of busy) expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      // Once it has passed, logins work again.
      expect((await new ApiClient(server.url).post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(200)
    } finally {
      await server.dispose()
    }
  })
})
