import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient, adminClient } from '../helpers/client'
import { bodies, create, createLabSet, type LabSet, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// The routes the console's terminals, users and events pages need beyond the records' CRUD:
// a client class's command line previewed for a terminal, a user's own password, the event log
// filtered and paged on the server.

const fieldsOf = (body: { fields?: { field: string }[] }) => (body.fields ?? []).map((f) => f.field)

let server: TestServer
let admin: ApiClient
let set: LabSet

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  set = await createLabSet(admin, 'cr')
})
afterAll(() => server?.dispose())

describe('POST /api/clients/preview', () => {
  it("fills in an unsaved client class for a terminal as GET /api/terminal would, and assigns no seat", async () => {
    const port = (await admin.get(`/api/labs/${set.lab.id}`)).body.network.hostPort as number
    const res = await admin.post('/api/clients/preview', {
      program: 'xfreerdp',
      args: ['/v:%HOST%:%PORT%', '/u:%USER%', '/t:%LAB% %SEAT% on %TERMINAL%', '%UNKNOWN%'],
      terminal: set.terminal.id,
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      program: 'xfreerdp',
      argv: [`/v:127.0.0.1:${port}`, '/u:student', `/t:${set.lab.id} ${set.lab.id}-1 on ${set.terminal.id}`, '%UNKNOWN%'],
      line: `'xfreerdp' '/v:127.0.0.1:${port}' '/u:student' '/t:${set.lab.id} ${set.lab.id}-1 on ${set.terminal.id}' '%UNKNOWN%'`,
      seat: `${set.lab.id}-1`,
    })
    // No seat was given to the terminal: the seats show no terminal.
    const vms = (await admin.get('/api/vms')).body as { terminal?: string }[]
    expect(vms.filter((v) => v.terminal === set.terminal.id)).toEqual([])
  })

  it("shows a pinned terminal's own seat", async () => {
    const pinned = await create(admin, 'terminals', { ...bodies.terminal(set.lab.id, set.client.id, uniqueName('pin')), seat: 2 })
    const res = await admin.post('/api/clients/preview', { program: 'p', args: ['%SEAT%'], terminal: pinned.id })
    expect(res.body.argv).toEqual([`${set.lab.id}-2`])
  })

  it('refuses bad input with the failing fields, an unknown terminal with 404, a viewer with 403', async () => {
    const bad = await admin.post('/api/clients/preview', { program: 'a b;rm', args: ['x\u0001'], terminal: 'Nope!' })
    expect(bad.status).toBe(400)
    expect(fieldsOf(bad.body).sort()).toEqual(['args.0', 'program', 'terminal'])
    expect((await admin.post('/api/clients/preview', { program: 'p', args: [], terminal: 'nobody' })).status).toBe(404)
    await create(admin, 'users', { username: 'pv-viewer', password: 'viewer-password', role: 'viewer' })
    const viewer = await new ApiClient(server.url).login('pv-viewer', 'viewer-password')
    expect((await viewer.post('/api/clients/preview', { program: 'p', args: [], terminal: set.terminal.id })).status).toBe(403)
  })
})

describe('POST /api/auth/password', () => {
  it('lets a viewer change their own password: other sessions end, this one goes on, the new password signs in', async () => {
    await create(admin, 'users', { username: 'pw-viewer', password: 'old-password-1', role: 'viewer' })
    const here = await new ApiClient(server.url).login('pw-viewer', 'old-password-1')
    const elsewhere = await new ApiClient(server.url).login('pw-viewer', 'old-password-1')
    const res = await here.post('/api/auth/password', { current: 'old-password-1', password: 'new-password-2' })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ username: 'pw-viewer', role: 'viewer' })
    expect((await here.get('/api/auth/me')).status).toBe(200)
    expect((await elsewhere.get('/api/auth/me')).status).toBe(401)
    expect((await new ApiClient(server.url).post('/api/auth/login', { username: 'pw-viewer', password: 'old-password-1' })).status).toBe(401)
    await new ApiClient(server.url).login('pw-viewer', 'new-password-2')
    const events = (await admin.get('/api/events?user=pw-viewer&kind=user')).body
    expect(events[0]).toMatchObject({ actor: 'pw-viewer', action: 'change-password', kind: 'user', id: 'pw-viewer' })
  })

  it('refuses a wrong current password or a short new one, in Spanish when asked, and changes nothing', async () => {
    await create(admin, 'users', { username: 'pw-two', password: 'old-password-1', role: 'viewer' })
    const user = await new ApiClient(server.url, 'es').login('pw-two', 'old-password-1')
    const wrong = await user.post('/api/auth/password', { current: 'not-it', password: 'new-password-2' })
    expect(wrong.status).toBe(400)
    expect(wrong.body.fields).toEqual([{ field: 'current', message: 'Contraseña incorrecta' }])
    const short = await user.post('/api/auth/password', { current: 'old-password-1', password: 'short' })
    expect(short.status).toBe(400)
    expect(fieldsOf(short.body)).toEqual(['password'])
    await new ApiClient(server.url).login('pw-two', 'old-password-1')
    expect((await new ApiClient(server.url).post('/api/auth/password', { current: 'x', password: 'new-password-2' })).status).toBe(401)
  })
})

describe('GET /api/events filtered and paged', () => {
  it('filters by user, kind and text, and pages with before/after cursors without gaps or repeats', async () => {
    await create(admin, 'users', { username: 'ev-admin', password: 'ev-admin-password', role: 'admin' })
    const ev = await new ApiClient(server.url).login('ev-admin', 'ev-admin-password')
    const names = Array.from({ length: 7 }, (_, i) => `evq-client-${i}`)
    for (const name of names) await create(ev, 'clients', bodies.client(name))
    await create(ev, 'images', bodies.image('evq-image'))

    const byUser = (await admin.get('/api/events?user=ev-admin&limit=1000')).body as { id: string; kind: string }[]
    // ...and, first of all, ev-admin's sign-in.
    expect(byUser.map((e) => e.id)).toEqual(['evq-image', ...[...names].reverse(), 'ev-admin'])
    const clients = (await admin.get('/api/events?user=ev-admin&kind=client')).body as { id: string }[]
    expect(clients.map((e) => e.id)).toEqual([...names].reverse())
    const text = (await admin.get('/api/events?q=CLIENT-3')).body as { id: string }[]
    expect(text.map((e) => e.id)).toEqual(['evq-client-3'])

    // Pages of 3, newest first, by the last cursor of each page.
    const seen: string[] = []
    let before = ''
    for (;;) {
      const page = (await admin.get(`/api/events?user=ev-admin&kind=client&limit=3${before && `&before=${before}`}`)).body as { id: string; cursor: string }[]
      if (!page.length) break
      seen.push(...page.map((e) => e.id))
      before = page.at(-1)!.cursor
    }
    expect(seen).toEqual([...names].reverse())
    // Newer than an event: only what came after it.
    const oldest = clients.at(-1) as unknown as { cursor: string }
    const after = (await admin.get(`/api/events?user=ev-admin&after=${oldest.cursor}`)).body as { id: string }[]
    expect(after.map((e) => e.id)).toEqual(['evq-image', ...names.slice(1).reverse()])
  })

  it('refuses bad filters with the failing fields', async () => {
    const res = await admin.get('/api/events?user=Bad!&kind=9&before=x&after=y&q=' + encodeURIComponent('a\u0001'))
    expect(res.status).toBe(400)
    expect(fieldsOf(res.body).sort()).toEqual(['after', 'before', 'kind', 'q', 'user'])
  })
})
