import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { startServer, type TestServer } from '../helpers/server'
import { StreamReader } from '../helpers/stream'

// Issue 8, finding 12: one address cannot hold every handler. With a cap of 3, three open streams
// from 127.0.0.1 leave it no fourth request, while another address is served as usual.

let server: TestServer
let admin: ApiClient
beforeAll(async () => {
  server = await startServer({ LABVIRT_MAX_REQUESTS_PER_ADDRESS: '3' })
  admin = await adminClient(server.url)
})
afterAll(async () => {
  await server?.dispose()
})

/** GET `path` from another loopback address: its status. */
function getFrom(localAddress: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { localAddress }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject).end()
  })
}

describe('requests under way per address', () => {
  it('are capped: the next one gets 429 with Retry-After, another address is served, and a closed stream frees its place', async () => {
    const streams = await Promise.all([1, 2, 3].map(() => StreamReader.open(server.url, admin.cookie)))
    expect(streams.map((s) => s.status)).toEqual([200, 200, 200])
    try {
      const refused = await admin.get('/api/health')
      expect(refused.status).toBe(429)
      expect(refused.headers.get('retry-after')).toBe('1')
      expect(refused.body.error).toBe('too_many_requests')
      // The terminal route, first in line for a boot storm, is held to the same cap.
      expect(await getFrom('127.0.0.1', '/api/terminal')).toBe(429)
      expect(await getFrom('127.0.0.2', '/api/health')).toBe(200)
      streams[0]!.reader!.close()
      await expect.poll(async () => (await admin.get('/api/health')).status, { timeout: 5000 }).toBe(200)
    } finally {
      for (const s of streams) s.reader?.close()
    }
  })
})
