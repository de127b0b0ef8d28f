import { createServer, type Server, type Socket } from 'node:net'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { afterEach, describe, expect, it } from 'vitest'
import { isConnectionConfirm, probe, probePorts, X224_CONNECTION_REQUEST } from '#server/network/probe'

// The readiness probe against tiny real TCP servers: only a guest that speaks counts, never a
// bare accept (QEMU's slirp accepts on a forwarded port before the guest has booted).

const servers: Server[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

async function serve(onConnection: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => {
    sockets.push(s)
    s.on('error', () => {})
    onConnection(s)
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as { port: number }).port
}

// What an RDP server sends back: TPKT, X.224 Connection Confirm, RDP_NEG_RSP (TLS).
const CONFIRM = Buffer.from([0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00])

const x224Answerer = () => serve((s) => s.once('data', (d) => {
  if (d.equals(X224_CONNECTION_REQUEST)) s.write(CONFIRM)
}))
const silent = () => serve(() => {})
const echo = () => serve((s) => s.pipe(s))
const banner = () => serve((s) => s.write('SSH-2.0-guest\r\n'))

describe('the readiness probe', () => {
  it('rdp: ready on an X.224 Connection Confirm, not on a silent accept, an echo or another protocol', async () => {
    expect(await probe('127.0.0.1', await x224Answerer(), 'rdp', 500)).toBe('answer')
    expect(await probe('127.0.0.1', await silent(), 'rdp', 300)).toBe('silent')
    // An echo sends the request back: a TPKT, but a Connection Request (0xE0), not a Confirm.
    expect(await probe('127.0.0.1', await echo(), 'rdp', 300)).toBe('silent')
    expect(await probe('127.0.0.1', await banner(), 'rdp', 300)).toBe('silent')
    expect(isConnectionConfirm(CONFIRM)).toBe(true)
    expect(isConnectionConfirm(X224_CONNECTION_REQUEST)).toBe(false)
  })

  it('tcp: ready when bytes come back; banner: ready when the guest speaks first', async () => {
    expect(await probe('127.0.0.1', await echo(), 'tcp', 500)).toBe('answer')
    expect(await probe('127.0.0.1', await silent(), 'tcp', 300)).toBe('silent')
    expect(await probe('127.0.0.1', await banner(), 'banner', 500)).toBe('answer')
    // An echo says nothing until spoken to.
    expect(await probe('127.0.0.1', await echo(), 'banner', 300)).toBe('silent')
  })

  it('never throws: a refused port or a server that hangs up is silent, and it gives up in time', async () => {
    const closed = await silent()
    await new Promise((r) => servers.pop()!.close(r))

    expect(await probe('127.0.0.1', closed, 'tcp', 500)).toBe('silent')
    expect(await probe('127.0.0.1', await serve((s) => s.destroy()), 'rdp', 500)).toBe('silent')
    const t0 = performance.now()
    expect(await probe('127.0.0.1', await silent(), 'banner', 200)).toBe('silent')
    expect(performance.now() - t0).toBeLessThan(1000)
    // Its connections are counted while under way only.
    expect(probePorts.size).toBe(0)
  })

  it('ends its connections with a reset: none waits in TIME_WAIT in /proc/net/tcp, which the connection watcher reads', async () => {
    const ports = [await echo(), await silent()]
    for (let i = 0; i < 5; i++) {
      expect(await probe('127.0.0.1', ports[0]!, 'tcp', 500)).toBe('answer')
      expect(await probe('127.0.0.1', ports[1]!, 'tcp', 100)).toBe('silent')
    }
    const remote = new Set(ports.map((p) => `0100007F:${p.toString(16).toUpperCase().padStart(4, '0')}`))
    const waiting = (await readFile('/proc/net/tcp', 'utf8')).split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => remote.has(f[2]!) && f[3] === '06')
    expect(waiting).toEqual([])
  })


  it('from a host with no route to the seat\'s network (a fresh network namespace), unreachable: readiness falls back to running', async () => {
    // Not a mock: the kernel answers ENETUNREACH in a namespace with no address and no route.
    const root = fileURLToPath(new URL('../../..', import.meta.url))
    const r = await execa('unshare', ['-n', 'node_modules/.bin/jiti', 'test/helpers/probe-cli.ts', '10.9.9.9', '3389', 'tcp'], { cwd: root })
    expect(r.stdout.trim()).toBe('unreachable')
  })
})
