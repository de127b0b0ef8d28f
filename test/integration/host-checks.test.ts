import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, ApiClient } from '../helpers/client'
import { bodies, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// GET /api/health: the public answer is unchanged; a signed-in caller also sees the host checks.
// The disk reserve is set far above any free space, so the disk check must be at error level.

let server: TestServer
let admin: ApiClient

beforeAll(async () => {
  server = await startServer({ LABVIRT_DISK_RESERVE: '1000000G' })
  admin = await adminClient(server.url)
}, 60_000)

afterAll(async () => {
  await server?.dispose()
})

describe('host checks in /api/health', () => {
  it('are not shown to the public', async () => {
    const res = await fetch(`${server.url}/api/health`)
    const body = await res.json()
    expect(body.started).toBe(true)
    expect(body).not.toHaveProperty('checks')
  })

  it('are listed for a signed-in caller, in their language, the disk at error and ok false', async () => {
    const res = await fetch(`${server.url}/api/health`, { headers: { cookie: admin.cookie, 'accept-language': 'es' } })
    expect(res.status).toBe(503)
    const body = await res.json()
    expect(body.ok).toBe(false)
    const ids = body.checks.map((c: { id: string }) => c.id).sort()
    expect(ids).toEqual(['disk', 'kvm', 'qemu', 'seats', 'store'])
    const disk = body.checks.find((c: { id: string }) => c.id === 'disk')
    expect(disk.level).toBe('error')
    expect(disk.message).toMatch(/menos espacio libre que la reserva/)
    // Its figures are written in Spanish too: a decimal comma, dots between thousands.
    expect(disk.message).toMatch(/ de 1\.000\.000,0 GiB:/)
    expect(body.checks.find((c: { id: string }) => c.id === 'store').level).toBe('ok')
  })

  it('while the disk check errs, a new image upload is refused with a clear message', async () => {
    const body = Buffer.alloc(64 * 1024)
    const res = await fetch(`${server.url}/api/images/${uniqueName('full')}/content`, {
      method: 'PUT',
      headers: { cookie: admin.cookie, 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
      body,
    })
    expect(res.status).toBe(507)
    expect((await res.json()).message).toMatch(/Not enough disk space/)
  })

  it('POST /api/health/checks runs the checks now for an admin and is refused to a viewer', async () => {
    const res = await admin.post('/api/health/checks', {})
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.checks.find((c: { id: string }) => c.id === 'disk')).toMatchObject({ level: 'error', ok: false })
    const name = uniqueName('viewer')
    expect((await admin.post('/api/users', { ...bodies.user(name), role: 'viewer' })).status).toBe(201)
    const viewer = await new ApiClient(server.url).login(name, bodies.user().password)
    expect((await viewer.post('/api/health/checks', {})).status).toBe(403)
  })
})

describe('the nightly image check (host:images)', () => {
  let plain: TestServer
  let api: ApiClient
  beforeAll(async () => {
    plain = await startServer()
    api = await adminClient(plain.url)
  }, 60_000)
  afterAll(async () => {
    await plain?.dispose()
  })

  it('runs qemu-img check on every qcow2: a damaged one is an error naming its file, and /api/health keeps the result', async () => {
    const good = (await api.post('/api/images', bodies.image(uniqueName('good')))).body
    const bad = (await api.post('/api/images', bodies.image(uniqueName('bad')))).body
    const path = join(plain.dataDir, 'images', bad.file)
    await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 1M', path])
    // The refcount block zeroed: every cluster the image uses is referenced but counted free.
    const fh = await open(path, 'r+')
    try {
      const header = Buffer.alloc(64)
      await fh.read(header, 0, 64, 0)
      const entry = Buffer.alloc(8)
      await fh.read(entry, 0, 8, Number(header.readBigUInt64BE(48)))
      await fh.write(Buffer.alloc(65536), 0, 65536, Number(entry.readBigUInt64BE(0)))
    } finally {
      await fh.close()
    }
    const res = await api.post('/api/health/checks')
    expect(res.status).toBe(200)
    const images = res.body.checks.find((c: { id: string }) => c.id === 'images')
    expect(images.level).toBe('error')
    expect(images.message).toContain(bad.file)
    expect(images.message).not.toContain(good.file)
    const health = await fetch(`${plain.url}/api/health`, { headers: { cookie: api.cookie } })
    expect(health.status).toBe(503)
    expect((await health.json()).checks.find((c: { id: string }) => c.id === 'images')).toMatchObject({ level: 'error' })
  })
})
