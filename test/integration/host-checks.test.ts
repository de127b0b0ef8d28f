import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, type ApiClient } from '../helpers/client'
import { uniqueName } from '../helpers/fixtures'
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
    expect(ids).toEqual(['disk', 'kvm', 'qemu', 'store'])
    const disk = body.checks.find((c: { id: string }) => c.id === 'disk')
    expect(disk.level).toBe('error')
    expect(disk.message).toMatch(/menos espacio libre que la reserva/)
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
})
