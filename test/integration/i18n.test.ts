import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ApiClient, adminClient } from '../helpers/client'
import { bodies, createLabSet, type LabSet, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'
import { parsePo } from '../../scripts/po-catalog.mjs'
import { setCatalogs, translate } from '#server/i18n/index'

// Error answers in the caller's language (Accept-Language), from locales/<lang>.po compiled into
// the built server: the message and every field message, for 400s, 404s, 409s and the rest.

const ROOT = resolve(__dirname, '../..')
const es = parsePo(readFileSync(join(ROOT, 'locales/es.po'), 'utf8'))
const en = parsePo(readFileSync(join(ROOT, 'locales/en.po'), 'utf8'))

/** The msgids of labvirt.pot (the English texts). */
const msgids = [...readFileSync(join(ROOT, 'locales/labvirt.pot'), 'utf8').matchAll(/^msgid ((?:".*"\n)+)/gm)]
  .map((m) => m[1]!.trim().split('\n').map((l) => JSON.parse(l) as string).join(''))
  .filter(Boolean)

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** A regexp matching a catalog text once its `{placeholders}` are filled in. */
const patternOf = (text: string) => new RegExp(`^${text.split(/\{\w+\}/).map(escapeRe).join('[\\s\\S]+?')}$`)
// Texts the same in both languages (`{kind}: {ids}`) prove nothing about the language.
const esPatterns = Object.entries(es).filter(([id, str]) => id !== str).map(([, str]) => patternOf(str))
const enPatterns = msgids.map(patternOf)
const fromCatalog = (text: string, patterns: RegExp[]) => patterns.some((p) => p.test(text))

let server: TestServer
let admin: ApiClient
let viewer: ApiClient
let set: LabSet

beforeAll(async () => {
  setCatalogs({ es, en })
  server = await startServer()
  admin = await adminClient(server.url)
  set = await createLabSet(admin, 'i18n')
  const v = bodies.user()
  expect((await admin.post('/api/users', v)).status).toBe(201)
  viewer = await new ApiClient(server.url).login(v.username, v.password)
})

afterAll(async () => {
  setCatalogs({})
  await server?.dispose()
})

/** The same request in one language. */
async function ask(lang: string | undefined, who: 'admin' | 'viewer' | 'nobody', method: string, path: string, body?: unknown, raw?: string) {
  const client = who === 'admin' ? admin : who === 'viewer' ? viewer : new ApiClient(server.url)
  const headers: Record<string, string> = lang === undefined ? {} : { 'accept-language': lang }
  return client.request(method, path, body, { headers, raw })
}

const BAD_LAB = { name: 'Bad Name', size: -1, profiles: [], network: { mode: 'wifi' }, extra: 1 }

describe('a bad request', () => {
  it('in Spanish: the message and each field message come from es.po', async () => {
    const res = await ask('es', 'admin', 'POST', '/api/labs', BAD_LAB)
    expect(res.status).toBe(400)
    expect(res.body.message).toBe(es['The request has invalid fields'])
    expect(res.body.message).toBe('La solicitud tiene campos no válidos')
    const byField = Object.fromEntries(res.body.fields.map((f: { field: string; message: string }) => [f.field, f.message]))
    expect(byField).toMatchObject({
      name: translate('es', 'Use 1 to 24 lowercase letters, digits and inner hyphens, starting with a letter'),
      size: translate('es', 'Must be at least {n}', { n: 0 }),
      profiles: translate('es', 'Too few items: the minimum is {n}', { n: 1 }),
      'network.mode': translate('es', 'Must be one of: {options}', { options: 'user, bridge, tap' }),
      extra: translate('es', 'Unknown field'),
    })
    for (const f of res.body.fields) expect(fromCatalog(f.message, esPatterns), f.message).toBe(true)
  })

  it('in English: the English texts', async () => {
    const res = await ask('en', 'admin', 'POST', '/api/labs', BAD_LAB)
    expect(res.status).toBe(400)
    expect(res.body.message).toBe('The request has invalid fields')
    const byField = Object.fromEntries(res.body.fields.map((f: { field: string; message: string }) => [f.field, f.message]))
    expect(byField).toMatchObject({
      name: 'Use 1 to 24 lowercase letters, digits and inner hyphens, starting with a letter',
      size: 'Must be at least 0',
      'network.mode': 'Must be one of: user, bridge, tap',
      extra: 'Unknown field',
    })
    for (const f of res.body.fields) expect(fromCatalog(f.message, enPatterns), f.message).toBe(true)
  })

  it.each([
    ['es-ES,es;q=0.9,en;q=0.8', 'es'],
    ['es-MX', 'es'],
    ['fr, es;q=0.5', 'es'],
    ['fr, en;q=0.5', 'en'],
    ['en-GB,en;q=0.9,es;q=0.8', 'en'],
    ['de', 'en'],
    ['garbage;;q=x', 'en'],
    [undefined, 'en'],
  ])('Accept-Language %s -> %s', async (header, lang) => {
    const res = await ask(header, 'admin', 'POST', '/api/labs', BAD_LAB)
    expect(res.body.message).toBe(lang === 'es' ? 'La solicitud tiene campos no válidos' : 'The request has invalid fields')
  })

  it('field names stay the same in every language', async () => {
    const a = await ask('es', 'admin', 'POST', '/api/labs', BAD_LAB)
    const b = await ask('en', 'admin', 'POST', '/api/labs', BAD_LAB)
    expect(a.body.fields.map((f: { field: string }) => f.field)).toEqual(b.body.fields.map((f: { field: string }) => f.field))
    expect(a.body.error).toBe(b.body.error)
  })
})

describe('other errors', () => {
  it('a 404 for a missing record names it in Spanish', async () => {
    const res = await ask('es', 'admin', 'GET', '/api/labs/no-such-lab')
    expect(res.status).toBe(404)
    expect(res.body.message).toBe('No se encontró «no-such-lab» (laboratorio)')
    const enRes = await ask('en', 'admin', 'GET', '/api/labs/no-such-lab')
    expect(enRes.body.message).toBe('No lab named "no-such-lab"')
  })

  it('a 404 for a route that does not exist', async () => {
    const res = await ask('es', 'admin', 'GET', '/api/no-such-route')
    expect(res.status).toBe(404)
    expect(res.body.message).toBe(es['Not found'])
  })

  it('a 409 for a name in use, and for a stale revision', async () => {
    const dup = await ask('es', 'admin', 'POST', '/api/clients', bodies.client(set.client.id))
    expect(dup.status).toBe(409)
    expect(dup.body.message).toBe(translate('es', 'A {kind} named "{id}" already exists', { kind: { msgid: 'client' }, id: set.client.id }))
    expect(dup.body.message).toContain(`«${set.client.id}»`)
    const lab = (await admin.get(`/api/labs/${set.lab.id}`)).body
    const stale = await ask('es', 'admin', 'PUT', `/api/labs/${set.lab.id}`, { ...lab, revision: lab.revision + 7 })
    expect(stale.status).toBe(409)
    expect(stale.body.message).toBe(
      translate('es', 'The {kind} "{id}" was changed meanwhile (it is now at revision {revision}); reload it and try again', {
        kind: { msgid: 'lab' },
        id: set.lab.id,
        revision: lab.revision,
      }),
    )
    expect(stale.body.message).toMatch(/^«.*» \(laboratorio\) se modificó/)
  })

  it('a 409 for something still in use lists the users in Spanish', async () => {
    const res = await ask('es', 'admin', 'DELETE', `/api/images/${set.image.id}`)
    expect(res.status).toBe(409)
    expect(res.body.message).toContain(`«${set.image.id}» (imagen) sigue en uso por:`)
    expect(res.body.message).toContain('perfiles')
    expect(res.body.message).toContain(set.profile.id)
  })
})

/**
 * Many error answers, each asked in English and in Spanish: the Spanish one must differ from the
 * English one and come from es.po, for the message and every field message.
 */
describe('no English leaks into a Spanish answer', () => {
  const cases: [string, 'admin' | 'viewer' | 'nobody', string, string | (() => string), unknown?, string?][] = [
    ['a bad lab', 'admin', 'POST', '/api/labs', BAD_LAB],
    ['invalid JSON', 'admin', 'POST', '/api/labs', undefined, '{"name": '],
    ['an empty body', 'admin', 'POST', '/api/labs', undefined, ''],
    ['a body that is no object', 'admin', 'POST', '/api/labs', [1, 2]],
    ['a bad image', 'admin', 'POST', '/api/images', { name: 'x', sizeMiB: 1.5, extra: true }],
    ['a huge image', 'admin', 'POST', '/api/images', { name: 'x', sizeMiB: 1e12 }],
    ['a bad profile', 'admin', 'POST', '/api/profiles', { name: 'p', memoryMiB: 'lots', disks: [{ image: 'x', bus: 'floppy' }], extraArgs: ['-hda', 'a b'] }],
    ['a CD-ROM on virtio', 'admin', 'POST', '/api/profiles', { name: 'p', memoryMiB: 256, disks: [{ image: 'x', bus: 'virtio', media: 'cdrom' }] }],
    ['a profile with no disks', 'admin', 'POST', '/api/profiles', { name: 'p', memoryMiB: 256, disks: [] }],
    ['a terminal with no address', 'admin', 'POST', '/api/terminals', () => ({ name: 't', lab: set.lab.id })],
    ['a terminal with bad addresses', 'admin', 'POST', '/api/terminals', () => ({ name: 't', lab: set.lab.id, ip: '10.0.0.256', mac: '01:00:5e:00:00:01', params: { lower: 'x' } })],
    ['a terminal on a seat the lab lacks', 'admin', 'POST', '/api/terminals', () => ({ ...bodies.terminal(set.lab.id), seat: 200 })],
    ['a terminal with an IP in use', 'admin', 'POST', '/api/terminals', () => ({ ...bodies.terminal(set.lab.id), ip: set.terminal.ip })],
    ['a bad user', 'admin', 'POST', '/api/users', { username: 'u', password: 'short', role: 'root' }],
    ['a bad client', 'admin', 'POST', '/api/clients', { name: 'c', program: 'rm -rf /', args: ['a\u0000b'] }],
    ['a lab with an unknown profile', 'admin', 'POST', '/api/labs', () => bodies.lab('no-such-profile')],
    ['a lab whose MAC base ends badly', 'admin', 'POST', '/api/labs', () => ({ ...bodies.lab(set.profile.id), macBase: '52:54:00:12:34:56' })],
    ['a lab with no room for its seats', 'admin', 'POST', '/api/labs', () => ({ ...bodies.lab(set.profile.id), ipBase: '10.9.9.250', max: 10 })],
    ['a lab larger than its maximum', 'admin', 'POST', '/api/labs', () => ({ ...bodies.lab(set.profile.id), size: 5, max: 2 })],
    ['a missing lab', 'admin', 'GET', '/api/labs/no-such-lab'],
    ['a missing profile', 'admin', 'DELETE', '/api/profiles/no-such-profile'],
    ['an unknown route', 'admin', 'GET', '/api/no-such-route'],
    ['a method the route lacks', 'admin', 'PATCH', '/api/labs'],
    ['a bad VM name', 'admin', 'POST', '/api/vms/Not_A_VM/actions', { action: 'start' }],
    ['a bad VM action', 'admin', 'POST', () => `/api/vms/${set.lab.id}-1/actions`, { action: 'explode' }],
    ['a bad maintenance action', 'admin', 'POST', () => `/api/profiles/${set.profile.id}/maintenance`, { action: 'explode' }],
    ['a duplicate name', 'admin', 'POST', '/api/clients', () => bodies.client(set.client.id)],
    ['an image in use', 'admin', 'DELETE', () => `/api/images/${set.image.id}`],
    ['a lab in use', 'admin', 'DELETE', () => `/api/labs/${set.lab.id}`],
    ['the last administrator', 'admin', 'DELETE', '/api/users/admin'],
    ['a bad revision', 'admin', 'DELETE', '/api/labs/x?revision=abc'],
    ['a bad events limit', 'admin', 'GET', '/api/events?limit=0'],
    ['a body too large', 'admin', 'POST', '/api/labs', { name: 'x'.repeat(300_000) }],
    ['no session', 'nobody', 'GET', '/api/labs'],
    ['a viewer writing', 'viewer', 'POST', '/api/labs', {}],
    ['a wrong password', 'nobody', 'POST', '/api/auth/login', { username: 'nobody', password: 'wrong' }],
  ]

  it.each(cases.map(([name, who, method, path, body, raw]) => ({ name, who, method, path, body, raw })))('$name', async ({ who, method, path, body, raw }) => {
    const p = typeof path === 'function' ? path() : path
    const b = typeof body === 'function' ? (body as () => unknown)() : body
    const [a, e] = [await ask('es', who, method, p, b, raw), await ask('en', who, method, p, b, raw)]
    expect(a.status, JSON.stringify(a.body)).toBeGreaterThanOrEqual(400)
    expect(a.status).toBeLessThan(500)
    expect(a.status).toBe(e.status)
    expect(typeof a.body?.message, JSON.stringify(a.body)).toBe('string')
    expect(a.body.message, 'the Spanish message is the English one').not.toBe(e.body.message)
    expect(fromCatalog(a.body.message, esPatterns), `not from es.po: ${a.body.message}`).toBe(true)
    expect(fromCatalog(e.body.message, enPatterns), `not a msgid: ${e.body.message}`).toBe(true)
    const af = (a.body.fields ?? []) as { field: string; message: string }[]
    const ef = (e.body.fields ?? []) as { field: string; message: string }[]
    expect(af.map((f) => f.field)).toEqual(ef.map((f) => f.field))
    af.forEach((f, i) => {
      expect(f.message, `field ${f.field}: untranslated`).not.toBe(ef[i]!.message)
      expect(fromCatalog(f.message, esPatterns), `field ${f.field}: not from es.po: ${f.message}`).toBe(true)
    })
  })
})

describe('the catalogs in the bundle', () => {
  it('every Spanish text of es.po reaches the built server (a sample of one per kind of error)', async () => {
    // The compiled catalog is the one in locales/: a msgid translated in es.po answers translated.
    const name = uniqueName('zz')
    const res = await ask('es', 'admin', 'GET', `/api/profiles/${name}`)
    expect(res.body.message).toBe(`No se encontró «${name}» (perfil)`)
    expect(Object.keys(es).length).toBeGreaterThanOrEqual(msgids.length)
  })
})
