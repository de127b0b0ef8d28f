import { discoverRoutes } from '../helpers/routes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import * as v from 'valibot'
import { adminClient, type ApiClient } from '../helpers/client'
import { bodies, createLabSet, create, type LabSet, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'
import { DeleteQuery, NAME_PATTERN } from '#schemas/common'
import { ImageCreate, ImageImport, ImageUpdate } from '#schemas/images'
import { ProfileCreate, ProfileUpdate } from '#schemas/profiles'
import { ClientCreate, ClientPreview, ClientUpdate } from '#schemas/clients'
import { LabCreate, LabUpdate } from '#schemas/labs'
import { TerminalAdopt, TerminalCreate, TerminalUpdate } from '#schemas/terminals'
import { HeartbeatBody, PendingId } from '#schemas/terminal-api'
import { Login, OwnPassword, UserCreate, UserUpdate } from '#schemas/users'
import { MaintenanceAction, ManualCreate, VmAction, VmId } from '#schemas/vms'
import { KeyChord, TypeText } from '#schemas/keys'
import { ProfileClone } from '#schemas/jobs'

// For every write route the server has (read from routes/, so a new one cannot escape), hundreds of
// malformed requests made by breaking a valid body: wrong types, missing and unknown fields, huge,
// hostile and control-character strings, non-objects, invalid JSON, deep nesting, odd numbers. Each
// must get a 4xx naming the failing fields (413 for an oversized body), never a 5xx, and change
// nothing in the store. Bodies come from a seeded PRNG: LABVIRT_FUZZ_SEED=<seed> replays a run.

const ROOT = resolve(__dirname, '../..')
const PER_ROUTE = 220
const CONCURRENCY = 8
const SEED = Number(process.env.LABVIRT_FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31)

// ---------------------------------------------------------------------------------------------
// Routes

const ROUTES = discoverRoutes(['POST', 'PUT', 'PATCH', 'DELETE'])
const WRITES = ROUTES.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method))
/** Writes that take no body at all. */
const NO_BODY = new Set(['POST /api/auth/logout', 'POST /api/demo', 'POST /api/health/checks', 'POST /api/jobs/[id]/cancel'])
/** Writes whose body is bytes, not JSON: images-upload.test.ts sends them what is no image. */
const RAW_BODY = new Set(['PUT /api/images/[id]/content'])
/** The list routes: `<resource>/index.get.ts`. */
const LISTS = ROUTES.filter((r) => r.method === 'GET' && /\/index\.get\.[cm]?[jt]s$/.test(r.file)).map((r) => r.pattern)

// ---------------------------------------------------------------------------------------------
// What a valid body of each write route looks like, and the schema that judges it

interface Spec {
  schema: v.GenericSchema
  /** A valid body; for updates the record as GET returned it. */
  valid: () => Promise<Record<string, unknown>> | Record<string, unknown>
  /** The `[id]` to use. */
  id?: () => string
  /** What the route accepts as `[id]` (a Name unless said otherwise). */
  idSchema?: v.GenericSchema
}

let server: TestServer
let admin: ApiClient
let set: LabSet
let viewerName: string

const getRecord = async (path: string) => {
  const res = await admin.get(path)
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as Record<string, unknown>
}

const SPECS: Record<string, Spec> = {
  'POST /api/auth/login': { schema: Login, valid: () => ({ username: 'admin', password: 'not-the-password' }) },
  // A wrong current password: a valid body never changes admin's password (or ends its session).
  'POST /api/auth/password': { schema: OwnPassword, valid: () => ({ current: 'not-the-password', password: 'another-long-password' }) },
  'POST /api/clients/preview': { schema: ClientPreview, valid: () => ({ program: 'xfreerdp', args: ['/v:%HOST%:%PORT%'], terminal: set.terminal.id }) },
  'POST /api/images': { schema: ImageCreate, valid: () => bodies.image() },
  // No such file: a valid body is refused (400), so the fuzzing never imports anything.
  'POST /api/images/import': { schema: ImageImport, valid: () => ({ file: 'not-copied-in.iso', name: uniqueName('imp'), convert: true }) },
  'PUT /api/images/[id]': { schema: ImageUpdate, id: () => set.image.id, valid: () => getRecord(`/api/images/${set.image.id}`) },
  'POST /api/profiles': { schema: ProfileCreate, valid: () => ({ ...bodies.profile(set.image.id), restartPeriodHours: 24, extraArgs: ['-usb'] }) },
  'PUT /api/profiles/[id]': { schema: ProfileUpdate, id: () => set.profile.id, valid: () => getRecord(`/api/profiles/${set.profile.id}`) },
  'POST /api/clients': { schema: ClientCreate, valid: () => bodies.client() },
  'PUT /api/clients/[id]': { schema: ClientUpdate, id: () => set.client.id, valid: () => getRecord(`/api/clients/${set.client.id}`) },
  'POST /api/labs': {
    schema: LabCreate,
    valid: () => ({ ...bodies.lab(set.profile.id, set.client.id), macBase: '52:54:00:ab:cd:00', ipBase: '10.250.0.10', network: { mode: 'bridge', bridge: 'br0' } }),
  },
  'POST /api/labs/preview': { schema: LabCreate, valid: () => ({ ...bodies.lab(set.profile.id, set.client.id), ipBase: '10.250.0.10' }) },
  'PUT /api/labs/[id]': { schema: LabUpdate, id: () => set.lab.id, valid: () => getRecord(`/api/labs/${set.lab.id}`) },
  'POST /api/terminals': { schema: TerminalCreate, valid: () => ({ ...bodies.terminal(set.lab.id, set.client.id), mac: '52:54:00:aa:bb:cc', seat: 1 }) },
  'PUT /api/terminals/[id]': { schema: TerminalUpdate, id: () => set.terminal.id, valid: () => getRecord(`/api/terminals/${set.terminal.id}`) },
  'POST /api/users': { schema: UserCreate, valid: () => bodies.user() },
  'PUT /api/users/[id]': { schema: UserUpdate, id: () => viewerName, valid: async () => ({ ...(await getRecord(`/api/users/${viewerName}`)), password: 'another-long-password' }) },
  'POST /api/profiles/[id]/maintenance': {
    schema: MaintenanceAction,
    id: () => set.profile.id,
    valid: () => ({ action: 'start', mode: 'exclusive', force: false, lab: set.lab.id }),
  },
  'POST /api/profiles/[id]/clone': { schema: ProfileClone, id: () => set.profile.id, valid: () => ({ name: 'fuzzclone', mode: 'linked' }) },
  'POST /api/vms/[id]/actions': { schema: VmAction, id: () => `${set.lab.id}-1`, idSchema: VmId, valid: () => ({ action: 'restart' }) },
  'POST /api/vms/[id]/keys': { schema: KeyChord, id: () => `${set.lab.id}-1`, idSchema: VmId, valid: () => ({ keys: ['ctrl', 'alt', 'delete'] }) },
  'POST /api/vms/[id]/type': { schema: TypeText, id: () => `${set.lab.id}-1`, idSchema: VmId, valid: () => ({ text: 'Hello, World!\n' }) },
  'POST /api/terminal/heartbeat': { schema: HeartbeatBody, valid: () => ({ state: 'connected' }) },
  'POST /api/pending-terminals/[id]/adopt': {
    schema: TerminalAdopt,
    // A pending id no terminal asked from: a valid body would get a 404, never a write.
    id: () => '10-254-254-254',
    idSchema: PendingId,
    valid: () => ({ name: uniqueName('adopt'), lab: set.lab.id, client: set.client.id, seat: 2, params: { USER: 'student' } }),
  },
  'POST /api/vms': {
    schema: ManualCreate,
    valid: () => ({ name: uniqueName('man'), profile: set.profile.id, cdrom: 'install.iso', boot: 'd', snapshot: false }),
  },
}

/** Routes whose `[id]` is not a plain Name. */
const ID_SCHEMAS: Record<string, v.GenericSchema> = {
  '/api/vms/[id]': VmId,
  '/api/vms/[id]/actions': VmId,
  '/api/vms/[id]/keys': VmId,
  '/api/vms/[id]/type': VmId,
  '/api/pending-terminals/[id]': PendingId,
  '/api/pending-terminals/[id]/adopt': PendingId,
}

/** An existing record of each resource, for `DELETE ...?revision=` with a bad revision. */
const existingId = (pattern: string): string => {
  const kind = pattern.split('/')[2]
  const ids: Record<string, () => string> = {
    images: () => set.image.id,
    profiles: () => set.profile.id,
    clients: () => set.client.id,
    labs: () => set.lab.id,
    terminals: () => set.terminal.id,
    users: () => viewerName,
  }
  return ids[kind!]?.() ?? 'x1'
}

// ---------------------------------------------------------------------------------------------
// A seeded PRNG and the hostile values

function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
type Rng = ReturnType<typeof mulberry32>
const pick = <T,>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1))

const deepArray = (n: number): unknown => {
  let x: unknown = 'deep'
  for (let i = 0; i < n; i++) x = [x]
  return x
}
const deepObject = (n: number): unknown => {
  let x: unknown = 'deep'
  for (let i = 0; i < n; i++) x = { a: x }
  return x
}

const HUGE = 'x'.repeat(100_000)
const STRINGS = [
  '', ' ', 'A', 'Ab', 'aB', 'a b', ' a', 'a ', '-a', 'a-', '1a', 'a_b', 'a.b', 'a--', 'é', 'ñandú', 'a\u202eb', '\ud800', '🙂',
  '../etc/passwd', '..', '.', '/', 'a/b', '/etc/shadow', '..\\..\\x', '....//', '%2e%2e%2f',
  'a,b', 'a,,b', ',', 'x,file=/etc/passwd', 'a"b', "a'b", '"', "'", '`', 'a\\b', '\\',
  'a\u0000b', '\u0000', 'a\nb', '\n', 'a\r\nb', 'a\tb', '\u001b[31m', '\u007f',
  '$(id)', '`id`', ';rm -rf /', '|x', '&x', '%00', '%HOST%', '%', '{id}',
  'x'.repeat(25), 'x'.repeat(101), 'x'.repeat(257), 'x'.repeat(501), 'x'.repeat(1001), 'x'.repeat(5000), HUGE,
  'null', 'true', '1', '-1', '1e9', 'NaN', '__proto__', 'constructor',
  '52:54:00:12:34:5g', '52-54-00-12-34-56', '01:00:5e:00:00:00', 'ff:ff:ff:ff:ff:ff', '52:54:00:12:34:01', '52:54:00:12:34',
  '256.1.1.1', '10.0.0', '10.0.0.1/24', '::1', '010.0.0.1', '10.0.0.255',
  'IDE', 'ide ', 'virtio,', 'floppy', 'cdrom,media=disk', 'VIEWER', 'root', 'superuser',
  '-drive', '--drive', '-hda', '-chardev', '-monitor', 'file=/etc/passwd', '-usb -hda x',
]
const NUMBERS = [
  0, -0.5, -1, -100, -2147483649, 0.1, 1.5, 3.0000001, 1e-7, 7, 16, 15, 255, 251, 256, 257, 1024, 65536, 1048577,
  4 * 1024 * 1024 + 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER,
]
const OTHERS: unknown[] = [
  null, true, false, [], [null], [1, 2, 3], ['a'], [''], ['../x'], [{}], [[]], {}, { a: 1 }, { name: 'x' }, { image: '../x' },
  deepArray(50), deepObject(50), new Array(1000).fill('a'), new Array(100).fill({ image: 'a' }),
]
// Deep nesting as text (JSON.stringify would recurse as deep).
const deepArrayText = (n: number) => `${'['.repeat(n)}"deep"${']'.repeat(n)}`
const deepObjectText = (n: number) => `${'{"a":'.repeat(n)}"deep"${'}'.repeat(n)}`
/** JSON number/literal texts that no JSON.stringify produces, spliced into the text. */
const RAW_VALUES = [
  '1e400', '-1e400', '1e-400', '-0', '123456789012345678901234567890', '0.30000000000000004', '1E2', '2e0',
  deepArrayText(3000), deepObjectText(3000), deepArrayText(40_000),
  '"\\ud800"', '"a\\u0000b"', '"\\u002e\\u002e/x"', '"\\/etc\\/passwd"',
  // Not JSON at all:
  'NaN', 'Infinity', '-Infinity', 'undefined', '0x10', '01', '.5', '+1', '1.', "'single'", 'tru', '"unterminated',
]
const INVALID_JSON = [
  '{', '}', '[', '{"', '{"name":', '{"name":}', 'nul', '{name: "x"}', "{'name': 'x'}", '{"a":1,}', '[1,]', '{}}', '{}{}',
  '\u0000', '"\u0000', '{"a":"\n"}', '\ufeff{}', '{"a":1}//', '/*x*/{}', 'NaN', 'undefined', '<xml/>', 'name=x&size=1',
  `${'['.repeat(100_000)}${']'.repeat(99_999)}`,
  // Valid JSON, but no object: nested far deeper than any parser's recursion.
  deepArrayText(100_000), deepObjectText(40_000),
]
const EXTRA_KEYS = ['extra', 'id2', '__proto__', 'constructor', 'prototype', 'Name', 'name ', '', ' ', 'passwordHash', 'role', 'file', 'path', 'revision2', '$where', 'a.b', 'x'.repeat(1000)]
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]

// ---------------------------------------------------------------------------------------------
// Mutating a valid body

type Json = unknown
type Path = (string | number)[]
const DELETE = Symbol('delete')

const clone = (x: Json): any => JSON.parse(JSON.stringify(x))

/** Sets (or deletes) a value at a path; `__proto__` and friends become own properties, as JSON.parse makes them. */
function setPath(root: any, path: Path, value: unknown | typeof DELETE): any {
  if (path.length === 0) return value
  let obj = root
  for (const key of path.slice(0, -1)) {
    if (obj[key] === null || typeof obj[key] !== 'object') Object.defineProperty(obj, key, { value: {}, enumerable: true, writable: true, configurable: true })
    obj = obj[key]
  }
  const last = path.at(-1)!
  if (value === DELETE) {
    if (Array.isArray(obj) && typeof last === 'number') obj.splice(last, 1)
    else delete obj[last]
  } else {
    Object.defineProperty(obj, last, { value, enumerable: true, writable: true, configurable: true })
  }
  return root
}

/** Every path of a body (containers and leaves), plus an appended item of each array. */
function pathsOf(x: Json, prefix: Path = []): Path[] {
  const out: Path[] = []
  if (Array.isArray(x)) {
    x.forEach((item, i) => {
      out.push([...prefix, i], ...pathsOf(item, [...prefix, i]))
    })
    out.push([...prefix, x.length])
  } else if (x && typeof x === 'object') {
    for (const [k, val] of Object.entries(x)) out.push([...prefix, k], ...pathsOf(val, [...prefix, k]))
  }
  return out
}

/** The top-level fields the schema knows (so optional fields absent from the valid body get broken too). */
function schemaKeys(schema: any): string[] {
  if (schema?.entries) return Object.keys(schema.entries)
  if (schema?.pipe?.[0]) return schemaKeys(schema.pipe[0])
  return []
}

function hostileValue(rng: Rng): { value: unknown; raw?: string; label: string } {
  const r = rng()
  if (r < 0.45) {
    const s = pick(rng, STRINGS)
    return { value: s, label: JSON.stringify(s.length > 40 ? `${s.slice(0, 20)}…(${s.length})` : s) }
  }
  if (r < 0.7) {
    const n = pick(rng, NUMBERS)
    return { value: n, label: String(n) }
  }
  if (r < 0.88) {
    const o = pick(rng, OTHERS)
    const text = JSON.stringify(o)
    return { value: clone(o), label: text.length > 40 ? `${text.slice(0, 20)}…(${text.length})` : text }
  }
  const raw = pick(rng, RAW_VALUES)
  return { value: undefined, raw, label: `raw ${raw.length > 40 ? `${raw.slice(0, 20)}…(${raw.length})` : raw}` }
}

interface Case { label: string; text: string; contentType?: string }

const TOKEN = '"@@RAW-VALUE@@"'

/** One malformed body made from the valid one; undefined when the PRNG happened to make a valid one. */
function mutate(rng: Rng, valid: Record<string, unknown>, schema: v.GenericSchema, keys: string[]): Case | undefined {
  const paths = [...pathsOf(valid), ...keys.filter((k) => !(k in valid)).map((k) => [k])]
  const kind = rng()
  let label: string
  let text: string
  if (kind < 0.55) {
    // Break 1 to 3 fields: a hostile value, or remove it.
    let body = clone(valid)
    let raw: string | undefined
    const parts: string[] = []
    const n = rng() < 0.7 ? 1 : int(rng, 2, 3)
    for (let i = 0; i < n; i++) {
      const path = pick(rng, paths)
      if (rng() < 0.15) {
        body = setPath(body, path, DELETE)
        parts.push(`-${path.join('.')}`)
        continue
      }
      const h = hostileValue(rng)
      if (h.raw !== undefined && raw === undefined) {
        // Spliced into the text afterwards: JSON.stringify cannot write these.
        body = setPath(body, path, TOKEN.slice(1, -1))
        raw = h.raw
      } else body = setPath(body, path, h.value ?? null)
      parts.push(`${path.join('.')}=${h.raw !== undefined && raw === h.raw ? `raw ${raw}` : h.label}`)
    }
    label = parts.join(' ')
    text = JSON.stringify(body)
    if (raw !== undefined) text = text.replace(TOKEN, raw)
  } else if (kind < 0.7) {
    // Unknown fields, with or without another broken field.
    const body = clone(valid)
    const key = pick(rng, EXTRA_KEYS)
    const h = hostileValue(rng)
    setPath(body, [key], h.value ?? 'x')
    label = `+${JSON.stringify(key.slice(0, 20))}=${h.label}`
    if (rng() < 0.3) {
      const path = pick(rng, paths)
      setPath(body, path, DELETE)
      label += ` -${path.join('.')}`
    }
    text = JSON.stringify(body)
  } else if (kind < 0.8) {
    // Not an object at all.
    const whole = pick(rng, [null, true, false, 0, -1, 1.5, 1e308, 'string', '', [], [valid], [[]], [null], { data: valid }, deepArray(100), HUGE])
    text = JSON.stringify(whole)
    label = `body=${text.length > 40 ? `${text.slice(0, 30)}…(${text.length})` : text}`
  } else if (kind < 0.92) {
    // Invalid JSON text: fixed samples, a truncated body, trailing junk, a BOM or NUL, duplicate keys.
    const good = JSON.stringify(valid)
    const which = int(rng, 0, 5)
    if (which === 0) {
      text = pick(rng, INVALID_JSON)
      label = `text=${JSON.stringify(text.slice(0, 30))}`
    } else if (which === 1) {
      text = good.slice(0, int(rng, 1, good.length - 1))
      label = `truncated at ${text.length}`
    } else if (which === 2) {
      text = `${good}${pick(rng, ['x', ',', '}', ']', '\u0000', '{}', ' 1'])}`
      label = 'trailing junk'
    } else if (which === 3) {
      const key = pick(rng, Object.keys(valid))
      const h = hostileValue(rng)
      text = `${good.slice(0, -1)},${JSON.stringify(key)}:${h.raw ?? JSON.stringify(h.value ?? null)}}`
      label = `duplicate ${key}=${h.label}`
    } else if (which === 4) {
      text = `{${good.slice(1).replace(/"/, "'")}`
      label = 'single quote'
    } else {
      text = good.replace(/:/, ': \u0000')
      label = 'NUL between tokens'
    }
  } else {
    // Oversized: a field far beyond any limit, and bodies past the server's size limit.
    const body = clone(valid)
    const path = pick(rng, paths)
    const size = pick(rng, [100_000, 200_000, 300_000, 1_000_000])
    setPath(body, path, 'y'.repeat(size))
    text = JSON.stringify(body)
    label = `${path.join('.')}=${size} chars`
  }
  // Keep it only if it is really invalid: not JSON, or JSON the schema refuses.
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { label, text, contentType: pick(rng, CONTENT_TYPES) }
  }
  if (text.trim() !== '' && v.safeParse(schema, parsed).success) return undefined
  return { label, text, contentType: pick(rng, CONTENT_TYPES) }
}

/** Ids that are not names (so they can exist nowhere), each one path segment once encoded. */
function badId(rng: Rng, idSchema?: v.GenericSchema): string {
  for (;;) {
    const id = badIdCandidate(rng)
    if (!idSchema || !v.safeParse(idSchema, decodeURIComponent(id)).success) return id
  }
}

function badIdCandidate(rng: Rng): string {
  const fixed = ['A', 'Ab', '-a', 'a-', '1a', 'a_b', 'a.b', 'a,b', 'a"b', "a'b", '..', '.', 'a/b', '../etc', 'a\u0000b', 'a\nb', 'a b', 'ñ', '🙂', '%', 'x'.repeat(25), 'x'.repeat(5000), '$(id)', 'a;b']
  let id: string
  if (rng() < 0.5) id = pick(rng, fixed)
  else {
    const alphabet = 'aaaabz09-_.,"\'/\\% \n\u0000ñ🙂;:$`A'
    id = Array.from({ length: int(rng, 1, 30) }, () => pick(rng, [...alphabet])).join('')
  }
  if (NAME_PATTERN.test(id)) id = `${id}_`
  // `.` and `..` (even as %2E) are dot segments a URL parser removes before sending: another path.
  if (/^\.+$/.test(id) && id.length <= 2) id = `${id}a`
  return encodeURIComponent(id).replace(/\./g, '%2E')
}

/** `?revision=` values the DELETE schema refuses. */
function badRevision(rng: Rng): { query: string; value: unknown } {
  const values = ['abc', '-1', '0', '00', '01', '1.5', '1e3', '', ' 1', '1 ', '0x1', '+1', '99999999999', 'null', 'true', '1%00', '%FF', '1,2', '１', '[]', '{}', `1${'0'.repeat(300)}`]
  if (rng() < 0.15) return { query: 'revision=1&revision=2', value: ['1', '2'] }
  if (rng() < 0.1) return { query: 'revision', value: '' }
  const raw = pick(rng, values)
  const value = raw === '1%00' ? '1\u0000' : raw === '%FF' ? '%FF' : raw
  return { query: `revision=${raw.includes('%') ? raw : encodeURIComponent(raw)}`, value }
}

// ---------------------------------------------------------------------------------------------
// Running requests and checking answers

interface Sent { route: string; label: string; method: string; path: string; body?: string; contentType?: string }
interface Failure extends Sent { status: number; answer: string }

async function send(c: Sent): Promise<{ status: number; text: string; json: any }> {
  // The terminal routes answer a caller that does not ask for JSON in plain text (for a launcher to show).
  const headers: Record<string, string> = { cookie: admin.cookie, accept: 'application/json' }
  if (c.contentType) headers['content-type'] = c.contentType
  let res: Response
  try {
    res = await fetch(`${server.url}${c.path}`, { method: c.method, headers, body: c.body })
  } catch (err) {
    // A kept-alive connection the server closed just as it was reused (likelier on a loaded
    // machine) fails before any answer; the request never reached a handler, so send it again.
    if ((err as { cause?: { code?: string } }).cause?.code !== 'ECONNRESET' && !/other side closed/.test(String((err as Error).cause))) throw err
    res = await fetch(`${server.url}${c.path}`, { method: c.method, headers, body: c.body })
  }
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: res.status, text, json }
}

function problemWith(status: number, json: any, contentType?: string): string | undefined {
  if (status >= 500) return 'a 5xx'
  // A body that is not JSON is refused whole (CSRF), and a JSON one never is.
  const isJson = /^application\/json(;|$)/.test(contentType ?? '')
  if (status === 415) return isJson ? 'a JSON body refused as not JSON' : json?.error === 'unsupported_media_type' ? undefined : 'a 415 of another kind'
  if (status < 400) return 'not an error'
  if (!json || typeof json !== 'object') return 'no JSON body'
  if (typeof json.message !== 'string' || json.message === '') return 'no message'
  if (status === 413) return undefined
  if (!Array.isArray(json.fields) || json.fields.length === 0) return 'no fields'
  for (const f of json.fields) {
    if (!f || typeof f.field !== 'string' || typeof f.message !== 'string' || f.message === '') return `a bad field entry ${JSON.stringify(f)}`
  }
  return undefined
}

async function runAll(cases: Sent[]): Promise<Failure[]> {
  const failures: Failure[] = []
  const statuses: Record<number, number> = {}
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!
      let status = 0
      let answer = ''
      let problem: string | undefined
      try {
        const res = await send(c)
        status = res.status
        statuses[status] = (statuses[status] ?? 0) + 1
        answer = res.text
        problem = problemWith(res.status, res.json, c.contentType)
      } catch (err) {
        problem = `request failed: ${err} (${(err as Error).cause ?? 'no cause'})`
      }
      if (problem) failures.push({ ...c, status, answer: `${problem}: ${answer.slice(0, 300)}` })
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  if (process.env.LABVIRT_FUZZ_VERBOSE) console.log(cases[0]?.route, cases.length, 'requests, answers:', statuses)
  return failures
}

function report(failures: Failure[]) {
  return `seed ${SEED} (replay with LABVIRT_FUZZ_SEED=${SEED}); ${failures.length} bad answers, the first ones:\n${failures
    .slice(0, 15)
    .map((f) => `  ${f.route} [${f.label}] ${f.method} ${f.path.slice(0, 120)} ${f.contentType ?? '(no content-type)'}\n    body: ${(f.body ?? '').slice(0, 200)}${(f.body?.length ?? 0) > 200 ? `…(${f.body!.length})` : ''}\n    answer: ${f.status} ${f.answer}`)
    .join('\n')}`
}

// ---------------------------------------------------------------------------------------------
// The store, before and after

async function storeSnapshot() {
  const files: Record<string, string> = {}
  const walk = async (dir: string) => {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err: any) {
      if (err.code === 'ENOENT') return
      throw err
    }
    for (const e of entries) {
      const p = join(dir, e.name)
      const rel = relative(join(server.dataDir, 'store'), p)
      if (rel === 'events' || rel === 'sessions') continue
      if (e.isDirectory()) await walk(p)
      else files[rel] = createHash('sha256').update(await readFile(p)).digest('hex')
    }
  }
  await walk(join(server.dataDir, 'store'))
  const images: Record<string, string> = {}
  for (const name of await readdir(join(server.dataDir, 'images')).catch(() => [] as string[])) {
    const p = join(server.dataDir, 'images', name)
    images[name] = (await stat(p)).isFile() ? createHash('sha256').update(await readFile(p)).digest('hex') : 'dir'
  }
  const lists: Record<string, unknown> = {}
  for (const path of LISTS) {
    const res = await admin.get(path)
    lists[path] = { status: res.status, body: res.body }
  }
  return { files, images, lists }
}

// ---------------------------------------------------------------------------------------------

let before: Awaited<ReturnType<typeof storeSnapshot>>
const counts: Record<string, number> = {}

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  set = await createLabSet(admin, 'bad')
  viewerName = (await create(admin, 'users', bodies.user())).id
  before = await storeSnapshot()
}, 120_000)

afterAll(async () => {
  if (process.env.LABVIRT_KEEP_DATA) console.log(`data dir: ${server?.dataDir}`)
  await server?.dispose()
})

describe(`malformed requests (seed ${SEED})`, () => {
  it('every write route is covered', () => {
    const missing = WRITES.map((r) => `${r.method} ${r.pattern}`).filter((k) => !NO_BODY.has(k) && !RAW_BODY.has(k) && !k.startsWith('DELETE ') && !SPECS[k])
    expect(missing, 'write routes with no valid body in SPECS: add one, so their bad input gets tested').toEqual([])
    expect(WRITES.length).toBeGreaterThanOrEqual(10)
    expect(LISTS).toContain('/api/labs')
  })

  const bodyRoutes = WRITES.filter((r) => !NO_BODY.has(`${r.method} ${r.pattern}`) && !RAW_BODY.has(`${r.method} ${r.pattern}`) && r.method !== 'DELETE')
  it.each(bodyRoutes.map((r) => ({ r, name: `${r.method} ${r.pattern}` })))('$name', async ({ r, name }) => {
    const spec = SPECS[name]
    if (!spec) throw new Error(`no valid body for ${name}`)
    const rng = mulberry32(SEED ^ [...name].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 7))
    const valid = await spec.valid()
    expect(v.safeParse(spec.schema, valid).issues ?? [], `the valid body of ${name} is not valid`).toEqual([])
    const keys = schemaKeys(spec.schema)
    const path = () => r.pattern.replace(/\[(\w+)\]/g, () => spec.id?.() ?? 'x1')
    const seen = new Set<string>()
    const cases: Sent[] = []
    for (let attempt = 0; cases.length < PER_ROUTE && attempt < PER_ROUTE * 50; attempt++) {
      const c = mutate(rng, valid, spec.schema, keys)
      if (!c || seen.has(c.text)) continue
      seen.add(c.text)
      cases.push({ route: name, label: c.label, method: r.method, path: path(), body: c.text, contentType: c.contentType })
    }
    // With an id in the path, also bad ids with the valid body.
    if (r.pattern.includes('[')) {
      for (let i = 0; i < 30; i++) {
        const id = badId(rng, spec.idSchema ?? ID_SCHEMAS[r.pattern])
        cases.push({ route: name, label: `id=${id.slice(0, 30)}`, method: r.method, path: r.pattern.replace(/\[(\w+)\]/g, id), body: JSON.stringify(valid), contentType: 'application/json' })
      }
    }
    expect(cases.length).toBeGreaterThanOrEqual(200)
    counts[name] = cases.length
    const failures = await runAll(cases)
    expect(failures, report(failures)).toEqual([])
  })

  const deletes = WRITES.filter((r) => r.method === 'DELETE')
  it.each(deletes.map((r) => ({ r, name: `${r.method} ${r.pattern}` })))('$name with bad ids and revisions', async ({ r, name }) => {
    const rng = mulberry32(SEED ^ [...name].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 11))
    // Only a route that reads `?revision=` gets bad revisions on a real record: any other would
    // ignore the query and delete it.
    const takesRevision = /DeleteQuery|revision/.test(readFileSync(join(ROOT, r.file), 'utf8'))
    const idSchema = ID_SCHEMAS[r.pattern]
    const cases: Sent[] = []
    for (let i = 0; i < 200; i++) {
      if (i % 2 === 0 || !r.pattern.includes('[') || !takesRevision) {
        const id = badId(rng, idSchema)
        const rev = rng() < 0.3 ? `?${badRevision(rng).query}` : ''
        cases.push({ route: name, label: `id=${id.slice(0, 30)}${rev}`, method: 'DELETE', path: `${r.pattern.replace(/\[(\w+)\]/g, id)}${rev}` })
      } else {
        const { query, value } = badRevision(rng)
        // Never a revision the schema would take: that could delete a real record.
        expect(v.safeParse(DeleteQuery, { revision: value }).success, query).toBe(false)
        cases.push({ route: name, label: query, method: 'DELETE', path: `${r.pattern.replace(/\[(\w+)\]/g, existingId(r.pattern))}?${query}` })
      }
    }
    counts[name] = cases.length
    const failures = await runAll(cases)
    expect(failures, report(failures)).toEqual([])
  })

  it('well-formed but inconsistent requests are refused with a 4xx, and change nothing', async () => {
    const lab = await getRecord(`/api/labs/${set.lab.id}`)
    const viewerRec = await getRecord(`/api/users/${viewerName}`)
    const adminRec = await getRecord('/api/users/admin')
    const p = set.profile.id
    const cases: [string, string, string, unknown?][] = [
      ['POST', '/api/labs', 'unknown profile', bodies.lab('no-such-profile')],
      ['POST', '/api/labs', 'unknown client', bodies.lab(p, 'no-such-client')],
      ['POST', '/api/labs', 'a profile listed twice', { ...bodies.lab(p), profiles: [p, p] }],
      ['POST', '/api/labs', 'an existing name', bodies.lab(p, undefined, set.lab.id)],
      ['POST', '/api/labs', 'a MAC base in use', { ...bodies.lab(p), macBase: lab.macBase }],
      ['POST', '/api/labs', 'an IP base with no room', { ...bodies.lab(p), ipBase: '10.9.9.250', size: 2, max: 10 }],
      ['POST', '/api/profiles', 'unknown image', bodies.profile('no-such-image')],
      ['POST', '/api/profiles', 'an existing name', bodies.profile(set.image.id, p)],
      ['POST', '/api/images', 'an existing name', bodies.image(set.image.id)],
      ['POST', '/api/clients', 'an existing name', bodies.client(set.client.id)],
      ['POST', '/api/terminals', 'unknown lab', bodies.terminal('no-such-lab')],
      ['POST', '/api/terminals', 'unknown client', bodies.terminal(set.lab.id, 'no-such-client')],
      ['POST', '/api/terminals', 'an IP in use', { ...bodies.terminal(set.lab.id), ip: set.terminal.ip }],
      ['POST', '/api/terminals', 'a seat beyond the lab', { ...bodies.terminal(set.lab.id), seat: 200 }],
      ['POST', '/api/terminals', 'an existing name', bodies.terminal(set.lab.id, undefined, set.terminal.id)],
      ['POST', '/api/users', 'an existing name', bodies.user(viewerName)],
      ['PUT', `/api/labs/${set.lab.id}`, 'a new name', { ...lab, name: 'other-name' }],
      ['PUT', `/api/labs/${set.lab.id}`, 'a stale revision', { ...lab, revision: (lab.revision as number) + 5 }],
      ['PUT', `/api/labs/${set.lab.id}`, 'unknown profile', { ...lab, profiles: ['no-such-profile'] }],
      ['PUT', '/api/labs/no-such-lab', 'a missing record', { ...lab, name: 'no-such-lab', id: 'no-such-lab' }],
      ['PUT', `/api/users/${viewerName}`, 'a stale revision', { ...viewerRec, revision: (viewerRec.revision as number) + 1 }],
      ['PUT', '/api/users/admin', 'the last administrator made a viewer', { ...adminRec, role: 'viewer' }],
      ['DELETE', `/api/images/${set.image.id}`, 'an image in use'],
      ['DELETE', `/api/profiles/${p}`, 'a profile in use'],
      ['DELETE', `/api/labs/${set.lab.id}`, 'a lab in use'],
      ['DELETE', `/api/clients/${set.client.id}`, 'a client in use'],
      ['DELETE', '/api/users/admin', 'the last administrator'],
      ['DELETE', `/api/terminals/${set.terminal.id}?revision=99`, 'a stale revision'],
      ['DELETE', '/api/labs/no-such-lab', 'a missing record'],
    ]
    const failures: string[] = []
    for (const [method, path, what, body] of cases) {
      const res = await admin.request(method, path, body)
      const problem = res.status >= 400 && res.status < 500 ? (res.status === 400 ? problemWith(res.status, res.body) : typeof res.body?.message === 'string' ? undefined : 'no message') : 'not a 4xx'
      if (problem) failures.push(`${method} ${path} (${what}): ${problem}: ${res.status} ${JSON.stringify(res.body)}\n    body: ${JSON.stringify(body)}`)
    }
    expect(failures).toEqual([])
  })

  it('left the store unchanged, and the server healthy', async () => {
    const after = await storeSnapshot()
    expect(after.lists, `lists changed (seed ${SEED})`).toEqual(before.lists)
    expect(after.files, `store files changed (seed ${SEED})`).toEqual(before.files)
    expect(after.images, `image files changed (seed ${SEED})`).toEqual(before.images)
    expect((await admin.get('/api/health')).status).toBe(200)
    expect((await admin.get('/api/auth/me')).status).toBe(200)
    expect(server.output(), 'the server logged an unhandled error').not.toMatch(/unhandled error/)
  })

  it('a chunked body past the size limit is refused before it has all arrived (no session needed to send one)', async () => {
    // The login route is public: a body the server buffers whole before checking its size lets
    // anyone make it hold gigabytes. 2 MiB are sent and the request is left open: the 413 must come
    // without waiting for the end.
    const url = new URL(server.url)
    const answer = await new Promise<{ status: number; body: string } | 'no answer'>((done) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: '/api/auth/login', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.on('end', () => done({ status: res.statusCode!, body }))
        },
      )
      req.on('error', () => {}) // the server may cut the connection after answering
      const chunk = Buffer.alloc(64 * 1024, 'a')
      req.write('{"username":"')
      for (let i = 0; i < 32; i++) req.write(chunk)
      setTimeout(() => {
        done('no answer')
        req.destroy()
      }, 3000)
    })
    expect(answer, 'the server waited for the whole body before refusing it').not.toBe('no answer')
    if (answer !== 'no answer') {
      expect(answer.status).toBe(413)
      expect(JSON.parse(answer.body).message).toMatch(/\d/)
    }
  })
})
