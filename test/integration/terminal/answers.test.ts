import { type IncomingHttpHeaders, request } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { create, uniqueName } from '../../helpers/fixtures'
import { listVms, seatsOf, startVmServer, type VmWorld, waitFor } from '../vms/vm-helpers'

// What a terminal gets from GET /api/terminal, against a built server running a real 2-seat lab
// (tiny QEMUs in user mode). Each terminal calls from its own loopback address (any 127/8 address
// is this host's on Linux), so the server tells them apart by source address as it would on a
// lab network.

const PROXY = '127.0.0.9'
const ODD = `o'brien "x" $(id) y`

let w: VmWorld
let lab: { id: string; network: { hostPort: number } }
let idle: { id: string }
let bare: { id: string }
let client: { id: string; program: string }
/** Terminals a test made; deleted after it, which frees their seats for the next test. */
let made: string[] = []

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  text: string
}

/** One request from `from` (a loopback address), on a fresh connection. */
function call(from: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const url = new URL(w.server.url)
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method: opts.method ?? 'GET', localAddress: from, headers: opts.headers, agent: false },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

const json = (from: string, path = '/api/terminal') => call(from, path, { headers: { accept: 'application/json' } })
const heartbeat = (from: string, body: unknown, query = '') =>
  call(from, `/api/terminal/heartbeat${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** The argv a launcher runs from the text answer (`eval "set -- $line"; "$@"`). */
async function argvOf(line: string): Promise<string[]> {
  const { stdout } = await execa('sh', ['-c', 'eval "set -- $0"; printf "%s\\0" "$@"', line], { stripFinalNewline: false })
  return stdout.split('\0').slice(0, -1)
}

async function terminal(body: Record<string, unknown>) {
  const t = await create(w.api, 'terminals', { name: uniqueName('term'), lab: lab.id, ...body })
  made.push(t.id)
  return t
}

/** What a user-mode seat is reached at: the host the terminal used, the seat's forwarded port. */
const portOf = (seat: string) => lab.network.hostPort + Number(seat.split('-').pop()) - 1

beforeAll(async () => {
  w = await startVmServer({ LABVIRT_TRUST_PROXY: PROXY })
  const image = await create(w.api, 'images', { name: uniqueName('ti'), sizeMiB: 16 })
  // Blank disks: nothing answers on the seats' port, so running counts as ready (probe `none`).
  const profile = await create(w.api, 'profiles', { name: uniqueName('tp'), memoryMiB: 64, cpus: 1, disks: [{ image: image.id }], probe: 'none' })
  client = await create(w.api, 'clients', {
    name: uniqueName('tc'),
    program: 'xfreerdp',
    args: ['/v:%HOST%:%PORT%', '/u:%USER%', '/t:%TERMINAL% on %SEAT% of %LAB%', '%USERNAME%'],
  })
  lab = await create(w.api, 'labs', { name: uniqueName('tl'), size: 2, profiles: [profile.id], network: { mode: 'user' }, client: client.id })
  // Seats that never run (size 0), and a lab with no client class at all.
  idle = await create(w.api, 'labs', { name: uniqueName('ti'), size: 0, max: 2, profiles: [profile.id], client: client.id })
  bare = await create(w.api, 'labs', { name: uniqueName('tb'), size: 0, max: 2, profiles: [profile.id] })
  await waitFor('both seats ready', 60_000, async (see) => {
    const seats = seatsOf(await listVms(w.api), lab.id)
    see(seats.map((s) => `${s.id}:${s.state}${s.ready ? ' ready' : ''}`))
    return seats.length === 2 && seats.every((s) => s.ready)
  })
})

afterAll(() => w?.dispose())

afterEach(async () => {
  for (const id of made) await w.api.delete(`/api/terminals/${id}`)
  made = []
})

describe('GET /api/terminal', () => {
  it('a known address gets its seat as one shell line; its argv survives the shell intact', async () => {
    const t = await terminal({ ip: '127.0.0.11', params: { USER: ODD } })
    const res = await call('127.0.0.11', '/api/terminal')
    expect(res.status, res.text).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.text.endsWith('\n')).toBe(true)
    const seat = `${lab.id}-1`
    expect(await argvOf(res.text)).toEqual(['xfreerdp', `/v:127.0.0.1:${portOf(seat)}`, `/u:${ODD}`, `/t:${t.id} on ${seat} of ${lab.id}`, '%USERNAME%'])
  })

  it('keeps a terminal on its seat, and gives another terminal the other seat', async () => {
    const a = await terminal({ ip: '127.0.0.12' })
    const b = await terminal({ ip: '127.0.0.13' })
    const first = JSON.parse((await json('127.0.0.12')).text)
    expect(first).toMatchObject({ terminal: a.id, seat: `${lab.id}-1` })
    expect(JSON.parse((await json('127.0.0.13')).text)).toMatchObject({ terminal: b.id, seat: `${lab.id}-2` })
    for (let i = 0; i < 3; i++) expect(JSON.parse((await json('127.0.0.12')).text).seat).toBe(first.seat)
  })

  it('terminals booting at once get distinct seats; the ones left over wait (503)', async () => {
    const addresses = ['127.0.0.41', '127.0.0.42', '127.0.0.43', '127.0.0.44', '127.0.0.45']
    for (const ip of addresses) await terminal({ ip })
    const answers = await Promise.all(addresses.map((ip) => json(ip)))
    const seats = answers.filter((r) => r.status === 200).map((r) => JSON.parse(r.text).seat)
    expect(seats.sort()).toEqual([`${lab.id}-1`, `${lab.id}-2`])
    const waiting = answers.filter((r) => r.status !== 200)
    expect(waiting.map((r) => r.status)).toEqual([503, 503, 503])
    for (const r of waiting) {
      expect(r.headers['retry-after']).toMatch(/^\d+$/)
      expect(JSON.parse(r.text)).toMatchObject({ statusCode: 503, error: 'unavailable' })
    }
  })

  it('identifies a terminal by ?mac= from any address', async () => {
    const t = await terminal({ mac: '52:54:00:aa:00:01' })
    const res = await json('127.0.0.14', '/api/terminal?mac=52:54:00:AA:00:01')
    expect(res.status, res.text).toBe(200)
    expect(JSON.parse(res.text)).toMatchObject({ terminal: t.id, lab: lab.id })
    expect((await call('127.0.0.14', '/api/terminal')).status).toBe(403)
  })

  it('an unknown terminal is refused with 403 in plain text, listed as pending, and gets a seat once adopted', async () => {
    const res = await call('127.0.0.21', '/api/terminal')
    expect(res.status).toBe(403)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.text).toMatch(/127\.0\.0\.21/)
    expect(res.text).not.toMatch(/[{}]/)
    // A JSON caller gets the usual JSON error, in its language.
    const es = await call('127.0.0.21', '/api/terminal', { headers: { accept: 'application/json', 'accept-language': 'es' } })
    expect(es.status).toBe(403)
    expect(JSON.parse(es.text)).toMatchObject({ statusCode: 403, error: 'forbidden' })

    const pending = (await w.api.get('/api/pending-terminals')).body
    const entry = pending.find((p: { id: string }) => p.id === '127-0-0-21')
    expect(entry).toMatchObject({ id: '127-0-0-21', ip: '127.0.0.21' })
    expect(Date.parse(entry.firstSeen)).toBeLessThanOrEqual(Date.parse(entry.lastSeen))

    const name = uniqueName('adopted')
    const adopted = await w.api.post('/api/pending-terminals/127-0-0-21/adopt', { name, lab: lab.id, params: { USER: 'ana' } })
    expect(adopted.status, JSON.stringify(adopted.body)).toBe(201)
    made.push(name)
    expect(adopted.body).toMatchObject({ id: name, ip: '127.0.0.21', lab: lab.id, params: { USER: 'ana' } })
    expect((await w.api.get('/api/pending-terminals')).body.map((p: { id: string }) => p.id)).not.toContain('127-0-0-21')
    const now = await json('127.0.0.21')
    expect(now.status, now.text).toBe(200)
    expect(JSON.parse(now.text)).toMatchObject({ terminal: name, lab: lab.id })
    expect((await w.api.post('/api/pending-terminals/127-0-0-21/adopt', { name: uniqueName('again'), lab: lab.id })).status).toBe(404)
  })

  it('an unknown MAC is pending under its MAC and adopted with it; a pending entry can be dismissed', async () => {
    expect((await call('127.0.0.22', '/api/terminal?mac=52:54:00:bb:00:02')).status).toBe(403)
    const entry = (await w.api.get('/api/pending-terminals')).body.find((p: { id: string }) => p.id === '52-54-00-bb-00-02')
    expect(entry).toMatchObject({ ip: '127.0.0.22', mac: '52:54:00:bb:00:02' })
    const name = uniqueName('bymac')
    const adopted = await w.api.post('/api/pending-terminals/52-54-00-bb-00-02/adopt', { name, lab: idle.id })
    expect(adopted.status, JSON.stringify(adopted.body)).toBe(201)
    made.push(name)
    expect(adopted.body.mac).toBe('52:54:00:bb:00:02')

    expect((await call('127.0.0.23', '/api/terminal')).status).toBe(403)
    expect((await w.api.delete('/api/pending-terminals/127-0-0-23')).status).toBe(204)
    expect((await w.api.delete('/api/pending-terminals/127-0-0-23')).status).toBe(404)
    expect((await w.api.get('/api/pending-terminals')).body.map((p: { id: string }) => p.id)).not.toContain('127-0-0-23')
  })

  it('creating a terminal by hand drops its pending entry', async () => {
    expect((await call('127.0.0.24', '/api/terminal')).status).toBe(403)
    expect((await w.api.get('/api/pending-terminals')).body.map((p: { id: string }) => p.id)).toContain('127-0-0-24')
    await terminal({ ip: '127.0.0.24' })
    expect((await w.api.get('/api/pending-terminals')).body.map((p: { id: string }) => p.id)).not.toContain('127-0-0-24')
  })

  it('a seat that is not running: 503 with Retry-After and a plain message', async () => {
    await terminal({ ip: '127.0.0.25', lab: idle.id })
    await terminal({ ip: '127.0.0.26', lab: idle.id, seat: 2 })
    for (const from of ['127.0.0.25', '127.0.0.26']) {
      const res = await call(from, '/api/terminal')
      expect(res.status, res.text).toBe(503)
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(res.headers['content-type']).toMatch(/^text\/plain/)
      expect(res.text).toContain(idle.id)
    }
  })

  it('a lab with no client class: 409 saying so', async () => {
    await terminal({ ip: '127.0.0.27', lab: bare.id })
    const res = await call('127.0.0.27', '/api/terminal')
    expect(res.status).toBe(409)
    expect(res.text).toContain(bare.id)
  })

  it('trusts X-Forwarded-For only from LABVIRT_TRUST_PROXY', async () => {
    const t = await terminal({ ip: '127.0.0.31' })
    const via = await call(PROXY, '/api/terminal?format=json', { headers: { 'x-forwarded-for': '10.1.1.1, 127.0.0.31' } })
    expect(via.status, via.text).toBe(200)
    expect(JSON.parse(via.text).terminal).toBe(t.id)
    // From anyone else the header is ignored: the caller is its own (unknown) address.
    const forged = await call('127.0.0.32', '/api/terminal', { headers: { 'x-forwarded-for': '127.0.0.31' } })
    expect(forged.status).toBe(403)
    expect(forged.text).toMatch(/127\.0\.0\.32/)
  })

  it('answers JSON when asked, by Accept or ?format=json, with the seat the terminal reached LabVirt by', async () => {
    const t = await terminal({ ip: '127.0.0.33', params: { USER: 'ana' } })
    const byAccept = await call('127.0.0.33', '/api/terminal', { headers: { accept: 'application/json', host: 'labvirt.example:8080' } })
    expect(byAccept.status, byAccept.text).toBe(200)
    expect(byAccept.headers['content-type']).toMatch(/^application\/json/)
    const body = JSON.parse(byAccept.text)
    expect(body).toEqual({
      terminal: t.id,
      lab: lab.id,
      seat: body.seat,
      host: 'labvirt.example',
      port: portOf(body.seat),
      program: 'xfreerdp',
      argv: [`/v:labvirt.example:${portOf(body.seat)}`, '/u:ana', `/t:${t.id} on ${body.seat} of ${lab.id}`, '%USERNAME%'],
    })
    const byQuery = JSON.parse((await call('127.0.0.33', '/api/terminal?format=json')).text)
    expect(byQuery).toMatchObject({ seat: body.seat, host: '127.0.0.1' })
  })

  it('answers a .rdp file for ?format=rdp', async () => {
    await terminal({ ip: '127.0.0.34', params: { USER: 'ana' } })
    const res = await call('127.0.0.34', '/api/terminal?format=rdp')
    expect(res.status, res.text).toBe(200)
    expect(res.headers['content-type']).toBe('application/x-rdp')
    const seat = `${lab.id}-1`
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${seat}.rdp"`)
    expect(res.text.split('\r\n')).toEqual([`full address:s:127.0.0.1:${portOf(seat)}`, 'screen mode id:i:2', 'username:s:ana', ''])
  })

  it('carries the security headers of every answer, errors too, and refuses a body as any GET would (415)', async () => {
    await terminal({ ip: '127.0.0.36' })
    const answers = [await call('127.0.0.36', '/api/terminal'), await call('127.0.0.37', '/api/terminal')]
    expect(answers.map((r) => r.status)).toEqual([200, 403])
    for (const r of answers) {
      expect(r.headers['x-content-type-options']).toBe('nosniff')
      expect(r.headers['content-security-policy']).toMatch(/default-src 'self'/)
    }
    const withBody = await call('127.0.0.36', '/api/terminal', { headers: { 'content-type': 'text/plain', 'content-length': '1' }, body: 'x' })
    expect(withBody.status, withBody.text).toBe(415)
  })

  it('a bad ?mac= or ?format= is a 400 naming the field', async () => {
    const res = await json('127.0.0.35', '/api/terminal?mac=nope&format=pdf')
    expect(res.status).toBe(400)
    expect(JSON.parse(res.text).fields.map((f: { field: string }) => f.field).sort()).toEqual(['format', 'mac'])
  })
})

describe('POST /api/terminal/heartbeat', () => {
  it('is stored with the terminal and its seat (204)', async () => {
    const t = await terminal({ ip: '127.0.0.51' })
    const seat = JSON.parse((await json('127.0.0.51')).text).seat
    const res = await heartbeat('127.0.0.51', { state: 'connected' })
    expect(res.status, res.text).toBe(204)
    expect(res.text).toBe('')
    // Kept without fsync, the record reaches its file a moment after the answer.
    const file = join(w.server.dataDir, 'store', 'heartbeats', t.id)
    const onDisk = (state: string) => waitFor(`the ${state} heartbeat on disk`, 5_000, async (see) => {
      const stored = JSON.parse(await readFile(file, 'utf8').catch(() => 'null'))
      see(stored)
      return stored?.state === state && stored
    })
    const stored = await onDisk('connected')
    expect(stored).toMatchObject({ terminal: t.id, seat, state: 'connected' })
    expect(Date.now() - Date.parse(stored.at)).toBeLessThan(30_000)
    expect((await heartbeat('127.0.0.51', { state: 'idle' })).status).toBe(204)
    await onDisk('idle')
  })

  it('from an unknown terminal: 403', async () => {
    const res = await heartbeat('127.0.0.52', { state: 'idle' })
    expect(res.status).toBe(403)
    expect(res.text).toMatch(/127\.0\.0\.52/)
  })

  it('a bad body: 400 naming the field', async () => {
    await terminal({ ip: '127.0.0.53' })
    const res = await call('127.0.0.53', '/api/terminal/heartbeat', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ state: 'dancing' }),
    })
    expect(res.status).toBe(400)
    expect(JSON.parse(res.text).fields).toEqual([{ field: 'state', message: expect.stringMatching(/connected, idle/) }])
    // A launcher (no JSON asked for) reads the same in plain text.
    const plain = await heartbeat('127.0.0.53', {})
    expect(plain.status).toBe(400)
    expect(plain.text).toMatch(/^.+\nstate: .+\n$/)
  })
})

// Issue 8, finding 4: a MAC or an address alone no longer takes another terminal's seat.
describe('terminal identity', () => {
  const MAC = '52:54:00:cc:00:01'
  const refusal = async (from: string, query = '') => {
    const res = await call(from, `/api/terminal${query}`)
    expect(res.status, res.text).toBe(403)
    return res.text
  }
  const pendingIds = async () => (await w.api.get('/api/pending-terminals')).body.map((p: { id: string }) => p.id)

  it('a terminal known by MAC and address is answered only when both match, and refused like an unknown one', async () => {
    const t = await terminal({ ip: '127.0.0.61', mac: MAC })
    const ok = await json('127.0.0.61', `/api/terminal?mac=${MAC}`)
    expect(ok.status, ok.text).toBe(200)
    expect(JSON.parse(ok.text).terminal).toBe(t.id)
    // Its MAC from another address, and its address without the MAC.
    const elsewhere = await refusal('127.0.0.62', `?mac=${MAC}`)
    await refusal('127.0.0.61')
    expect((await heartbeat('127.0.0.62', { state: 'connected' }, `?mac=${MAC}`)).status).toBe(403)
    // Nothing tells a known MAC from an unknown one.
    const unknown = await refusal('127.0.0.62', '?mac=52:54:00:cc:00:99')
    expect(elsewhere.replace(MAC, 'M')).toBe(unknown.replace('52:54:00:cc:00:99', 'M'))
    // A known terminal's MAC is not listed as a new terminal.
    expect(await pendingIds()).not.toContain('52-54-00-cc-00-01')
  })

  it('an unknown MAC from a known address is pending, never answered as that address', async () => {
    await terminal({ ip: '127.0.0.63' })
    await refusal('127.0.0.63', '?mac=52:54:00:cc:00:03')
    const entry = (await w.api.get('/api/pending-terminals')).body.find((p: { id: string }) => p.id === '52-54-00-cc-00-03')
    expect(entry).toMatchObject({ ip: '127.0.0.63', mac: '52:54:00:cc:00:03' })
    expect((await heartbeat('127.0.0.63', { state: 'connected' }, '?mac=52:54:00:cc:00:03')).status).toBe(403)
    expect((await w.api.delete('/api/pending-terminals/52-54-00-cc-00-03')).status).toBe(204)
  })

  it('an idle heartbeat frees the seat at once', async () => {
    await terminal({ ip: '127.0.0.64' })
    await terminal({ ip: '127.0.0.66' })
    await terminal({ ip: '127.0.0.65' })
    const first = JSON.parse((await json('127.0.0.64')).text).seat
    expect((await json('127.0.0.66')).status).toBe(200)
    expect((await heartbeat('127.0.0.64', { state: 'connected' })).status).toBe(204)
    // Both seats taken: the third terminal waits.
    expect((await json('127.0.0.65')).status).toBe(503)
    expect((await heartbeat('127.0.0.64', { state: 'idle' })).status).toBe(204)
    const freed = await json('127.0.0.65')
    expect(freed.status, freed.text).toBe(200)
    expect(JSON.parse(freed.text).seat).toBe(first)
  })
})
