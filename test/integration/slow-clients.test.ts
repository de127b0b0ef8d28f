import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../helpers/client'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'

// A client that sends its body a byte at a time is cut off after LABVIRT_REQUEST_TIMEOUT; a client
// that sends it in good time is not.

let server: TestServer
beforeAll(async () => {
  server = await startServer({ LABVIRT_REQUEST_TIMEOUT: '1' })
})
afterAll(async () => {
  await server?.dispose()
})

describe('a body trickling in', () => {
  it('loses its connection after the request timeout, and the server keeps answering', async () => {
    const { port } = new URL(server.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    socket.on('error', () => {})
    const body = JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD })
    socket.write(`POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
    let sent = 0
    // One byte every 250 ms: the whole body would take ~15 s; the timeout is 1 s.
    const trickle = setInterval(() => {
      if (socket.destroyed || sent >= body.length) return
      socket.write(body[sent++]!)
    }, 250)
    let answer = ''
    socket.on('data', (d) => (answer += d))
    await closed
    clearInterval(trickle)
    expect(sent).toBeLessThan(body.length)
    expect(answer).not.toMatch(/^HTTP\/1\.1 200/)
    expect((await new ApiClient(server.url).post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(200)
  }, 15_000)
})
