import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, type ApiClient } from '../../helpers/client'
import { startRedis, type TestRedis } from '../../helpers/redis'
import { startServer, type TestServer } from '../../helpers/server'
import { waitFor } from '../vms/vm-helpers'

// Two hosts sharing one Redis store: GET /api/hosts on either lists both, each with its figures and
// its monitoring link; the history only for the host that answers (it stays where it was sampled).

let redis: TestRedis
let a: TestServer
let b: TestServer
let apiA: ApiClient

beforeAll(async () => {
  redis = await startRedis()
  const common = { LABVIRT_STORE_URL: redis.url, LABVIRT_SAMPLE_INTERVAL: '1' }
  a = await startServer({ ...common, LABVIRT_HOST_ID: 'host-a', LABVIRT_MONITORING_URL: 'https://munin.example.edu/a/' })
  b = await startServer({ ...common, LABVIRT_HOST_ID: 'host-b' })
  apiA = await adminClient(a.url)
}, 120_000)
afterAll(async () => {
  await a?.dispose()
  await b?.dispose()
  await redis?.dispose()
})

describe('GET /api/hosts on a shared store', () => {
  it('lists every host with its figures; the history only for the one answering', async () => {
    const hosts = await waitFor('both hosts with figures', 15_000, async (see) => {
      const res = await apiA.get('/api/hosts')
      see(res.body)
      return res.status === 200 && res.body.length === 2 && res.body.every((h: any) => h.figures?.cpuPercent !== null) && res.body
    })
    const [ha, hb] = hosts
    expect(ha).toMatchObject({ id: 'host-a', local: true, stale: false, monitoringUrl: 'https://munin.example.edu/a/' })
    expect(hb).toMatchObject({ id: 'host-b', local: false, stale: false, history: null })
    expect(hb.monitoringUrl).toBeUndefined()
    expect(ha.history.t.length).toBeGreaterThanOrEqual(2)
    expect(hb.figures.memory.totalBytes).toBeGreaterThan(0)
    expect(hb.figures.diskFreeBytes).toBeGreaterThan(0)

    // From the other host, the roles swap.
    const fromB = (await (await adminClient(b.url)).get('/api/hosts')).body
    expect(fromB.map((h: any) => [h.id, h.local, h.history === null])).toEqual([['host-a', false, true], ['host-b', true, false]])
  })

})
