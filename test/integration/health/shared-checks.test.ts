import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, type ApiClient } from '../../helpers/client'
import { startRedis, type TestRedis } from '../../helpers/redis'
import { startServer, type TestServer } from '../../helpers/server'

// Two hosts on one Redis store: each one's GET /api/health (signed in) lists its own checks first,
// then the other's, as the other host last ran them, in the caller's language. Host A's disk
// reserve is far above any free space, so its disk check errs; host B's passes.

let redis: TestRedis
let a: TestServer
let b: TestServer
let apiA: ApiClient
let apiB: ApiClient

beforeAll(async () => {
  redis = await startRedis()
  a = await startServer({ LABVIRT_STORE_URL: redis.url, LABVIRT_HOST_ID: 'host-a', LABVIRT_DISK_RESERVE: '1000000G' })
  b = await startServer({ LABVIRT_STORE_URL: redis.url, LABVIRT_HOST_ID: 'host-b' })
  ;[apiA, apiB] = await Promise.all([adminClient(a.url), adminClient(b.url)])
}, 120_000)
afterAll(async () => {
  await a?.dispose()
  await b?.dispose()
  await redis?.dispose()
})

const health = async (api: ApiClient, lang = 'en') => {
  const res = await fetch(`${api.url}/api/health`, { headers: { cookie: api.cookie, 'accept-language': lang } })
  return { status: res.status, body: await res.json() }
}
const disk = (h: { checks: { id: string; level: string; message: string }[] }) => h.checks.find((c) => c.id === 'disk')!

describe('host checks of every host in /api/health', () => {
  it("each host sees the other's checks once they ran there, this host first, in the caller's language", async () => {
    // Scheduled tasks are off under test: an admin's run-now runs (and records) each host's checks.
    expect((await apiA.post('/api/health/checks', {})).status).toBe(200)
    expect((await apiB.post('/api/health/checks', {})).status).toBe(200)

    const fromA = await health(apiA, 'es')
    // A's own disk errs: its answer is not ok, whatever B's checks say.
    expect(fromA.status).toBe(503)
    expect(fromA.body.hosts.map((h: any) => [h.host, h.local, h.stale])).toEqual([['host-a', true, false], ['host-b', false, false]])
    const [ownA, otherB] = fromA.body.hosts
    expect(disk(ownA).level).toBe('error')
    expect(disk(otherB).level).toBe('ok')
    expect(disk(otherB).message).toMatch(/libres por encima de la reserva/)
    expect(otherB.checks.map((c: any) => c.id)).toEqual(['disk', 'store', 'qemu', 'kvm', 'seats', 'images'])
    expect(fromA.body.checks).toEqual(ownA.checks)

    const fromB = await health(apiB)
    // B's own checks pass (KVM may be missing on a CI host: a warning, not an error).
    expect(fromB.body.checks.every((c: any) => c.level !== 'error'), JSON.stringify(fromB.body.checks)).toBe(true)
    expect(fromB.status).toBe(200)
    expect(fromB.body.hosts.map((h: any) => [h.host, h.local])).toEqual([['host-b', true], ['host-a', false]])
    expect(disk(fromB.body.hosts[1]).level).toBe('error')
    expect(disk(fromB.body.hosts[1]).message).toMatch(/less free space than the reserve/)
  })

  it('the public answer stays ok or not of the host asked', async () => {
    const pub = await fetch(`${b.url}/api/health`)
    expect(pub.status).toBe(200)
    const body = await pub.json()
    expect(body).not.toHaveProperty('hosts')
    expect(body).not.toHaveProperty('checks')
  })
})
