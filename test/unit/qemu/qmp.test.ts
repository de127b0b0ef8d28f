import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  connectWithRetry,
  QmpClient,
  QmpClosedError,
  QmpCommandError,
  QmpConnectError,
  QmpProtocolError,
  QmpTimeoutError,
  type QmpEvent,
} from '#server/qemu/qmp/index'

const GREETING = { QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'scripted' }, capabilities: ['oob'] } }
const WAIT = 2_000

/** Rejects if `p` takes longer than `ms`: every wait in these tests is bounded. */
function within<T>(p: Promise<T>, ms = WAIT, what = 'wait'): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
  ])
}

/** One accepted connection of the scripted server: what the client sent, and ways to answer. */
class Conn {
  private lines: Record<string, unknown>[] = []
  private waiters: ((m: Record<string, unknown>) => void)[] = []
  private buffer = ''
  readonly ended: Promise<void>

  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      this.buffer += chunk
      let nl: number
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, nl))
        this.buffer = this.buffer.slice(nl + 1)
        const w = this.waiters.shift()
        if (w) w(msg)
        else this.lines.push(msg)
      }
    })
    socket.on('error', () => {})
    this.ended = new Promise((r) => socket.once('close', () => r()))
  }

  /** The next message the client sent. */
  next(): Promise<Record<string, unknown>> {
    const m = this.lines.shift()
    return within(m ? Promise.resolve(m) : new Promise((r) => this.waiters.push(r)), WAIT, 'client message')
  }

  send(...msgs: object[]) {
    this.socket.write(msgs.map((m) => `${JSON.stringify(m)}\r\n`).join(''))
  }

  raw(text: string) {
    this.socket.write(text)
  }

  reply(id: unknown, ret: unknown = {}) {
    this.send({ return: ret, id })
  }

  event(name: string, data?: object) {
    this.send({ timestamp: { seconds: 1, microseconds: 2 }, event: name, ...(data ? { data } : {}) })
  }

  /** Greets and answers qmp_capabilities, as QEMU does. */
  async handshake() {
    this.send(GREETING)
    const caps = await this.next()
    expect(caps.execute).toBe('qmp_capabilities')
    this.reply(caps.id)
  }
}

/** A QMP server on a real unix socket whose every answer the test scripts. */
class ScriptedServer {
  private queue: Conn[] = []
  private waiters: ((c: Conn) => void)[] = []
  readonly all: Conn[] = []
  private constructor(readonly server: Server) {}

  static async listen(path: string) {
    const server = createServer()
    const s = new ScriptedServer(server)
    server.on('connection', (sock) => {
      const c = new Conn(sock)
      s.all.push(c)
      const w = s.waiters.shift()
      if (w) w(c)
      else s.queue.push(c)
    })
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, () => resolve()))
    return s
  }

  accept(): Promise<Conn> {
    const c = this.queue.shift()
    return within(c ? Promise.resolve(c) : new Promise((r) => this.waiters.push(r)), WAIT, 'connection')
  }

  /** Accepts the next connection and does the handshake. */
  async acceptReady(): Promise<Conn> {
    const c = await this.accept()
    await c.handshake()
    return c
  }

  async close() {
    for (const c of this.all) c.socket.destroy()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}

let dir: string
let path: string
let server: ScriptedServer | undefined
const clients: QmpClient[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-qmp-'))
  path = join(dir, 'vm.qmp')
})
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await server?.close()
  server = undefined
  await rm(dir, { recursive: true, force: true })
})

async function connected(options = {}) {
  server ??= await ScriptedServer.listen(path)
  const [client, conn] = await Promise.all([QmpClient.connect(path, options), server.acceptReady()])
  clients.push(client)
  return { client, conn }
}

describe('QmpClient', () => {
  it('reads the greeting and negotiates capabilities', async () => {
    const { client } = await connected()
    expect(client.greeting.QMP.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 })
    expect(client.isClosed).toBe(false)
  })

  it('sends arguments and matches replies by id, whatever their order', async () => {
    const { client, conn } = await connected()
    const status = client.execute('query-status')
    const hmp = client.execute('human-monitor-command', { 'command-line': 'info version' })
    const m1 = await conn.next()
    const m2 = await conn.next()
    expect(m1).toEqual({ execute: 'query-status', id: expect.any(Number) })
    expect(m2).toEqual({ execute: 'human-monitor-command', arguments: { 'command-line': 'info version' }, id: expect.any(Number) })
    expect(m1.id).not.toBe(m2.id)
    conn.reply(m2.id, '7.2.22\r\n')
    conn.reply(m1.id, { status: 'running', running: true, singlestep: false })
    expect(await hmp).toBe('7.2.22\r\n')
    expect(await status).toEqual({ status: 'running', running: true, singlestep: false })
  })

  it('turns an error reply into QmpCommandError with its class and desc', async () => {
    const { client, conn } = await connected()
    const p = client.executeRaw('no-such-command')
    const m = await conn.next()
    conn.send({ error: { class: 'CommandNotFound', desc: "The command no-such-command has not been found" }, id: m.id })
    const e = await p.catch((e) => e)
    expect(e).toBeInstanceOf(QmpCommandError)
    expect(e).toMatchObject({ class: 'CommandNotFound', desc: 'The command no-such-command has not been found', command: 'no-such-command' })
  })

  it('delivers events to listeners, to events() and to waitForEvent', async () => {
    const { client, conn } = await connected()
    const seen: QmpEvent[] = []
    client.on('event', (e) => seen.push(e))
    const stream = client.events()
    const stop = client.waitForEvent('STOP')
    conn.event('RESUME')
    conn.event('STOP')
    expect((await within(stop)).event).toBe('STOP')
    const first = await within(stream.next())
    const second = await within(stream.next())
    expect([first.value?.event, second.value?.event]).toEqual(['RESUME', 'STOP'])
    expect(seen).toEqual([
      { event: 'RESUME', data: {}, timestamp: { seconds: 1, microseconds: 2 } },
      { event: 'STOP', data: {}, timestamp: { seconds: 1, microseconds: 2 } },
    ])
    await stream.return!()
    expect(client.listenerCount('event')).toBe(1)
  })

  it('events(): concurrent next() calls get events in order; for-await ends on break', async () => {
    const { client, conn } = await connected()
    const stream = client.events()
    const a = stream.next()
    const b = stream.next()
    conn.event('RESET', { guest: true, reason: 'guest-reset' })
    conn.event('POWERDOWN')
    expect([(await within(a)).value?.event, (await within(b)).value?.event]).toEqual(['RESET', 'POWERDOWN'])
    const names: string[] = []
    // Sent now, received later over the socket: the loop below subscribes first.
    conn.event('STOP')
    conn.event('RESUME')
    for await (const e of client.events()) {
      names.push(e.event)
      if (names.length === 1) conn.event('SHUTDOWN')
      if (e.event === 'SHUTDOWN') break
    }
    expect(names).toEqual(['STOP', 'RESUME', 'SHUTDOWN'])
    await stream.return!()
    expect(client.listenerCount('event')).toBe(0)
  })

  it('waitForEvent filters on data and times out', async () => {
    const { client, conn } = await connected()
    const vnc = client.waitForEvent<{ client: { host: string } }>('VNC_CONNECTED', { filter: (e) => e.data.client.host === 'b' })
    conn.event('VNC_CONNECTED', { client: { host: 'a' } })
    conn.event('VNC_CONNECTED', { client: { host: 'b' } })
    expect((await within(vnc)).data.client.host).toBe('b')
    await expect(client.waitForEvent('RESET', { timeoutMs: 50 })).rejects.toBeInstanceOf(QmpTimeoutError)
  })

  it('handles messages split across writes and several in one write', async () => {
    server = await ScriptedServer.listen(path)
    const connecting = QmpClient.connect(path)
    const conn = await server.accept()
    // The greeting and an event in one write, before capabilities.
    conn.raw(`${JSON.stringify(GREETING)}\r\n{"event": "RESUME", "data": {}, "timestamp": {"seconds": 0, "microseconds": 0}}\r\n`)
    const caps = await conn.next()
    const text = JSON.stringify({ return: {}, id: caps.id })
    conn.raw(text.slice(0, 5))
    await sleep(20)
    conn.raw(`${text.slice(5)}\r\n`)
    const client = await within(connecting)
    clients.push(client)
    const p = client.execute('query-vnc')
    const m = await conn.next()
    // A multi-byte character split between two writes stays whole.
    const bytes = Buffer.from(`${JSON.stringify({ return: { host: 'ñandú' }, id: m.id })}\n`)
    const cut = bytes.indexOf(Buffer.from('ñ')) + 1
    conn.socket.write(bytes.subarray(0, cut))
    await sleep(20)
    conn.socket.write(bytes.subarray(cut))
    expect(await within(p)).toEqual({ host: 'ñandú' })
  })

  it('times out a command that gets no answer, and stays usable', async () => {
    const { client, conn } = await connected()
    const started = Date.now()
    const e = await client.execute('query-status', undefined, { timeoutMs: 100 }).catch((e) => e)
    const took = Date.now() - started
    expect(e).toBeInstanceOf(QmpTimeoutError)
    expect(e).toMatchObject({ command: 'query-status', timeoutMs: 100 })
    expect(took).toBeGreaterThanOrEqual(95)
    expect(took).toBeLessThan(1_000)
    const late = await conn.next()
    // The late reply is dropped; the next command gets its own.
    conn.reply(late.id, { status: 'paused', running: false })
    const p = client.execute('query-status')
    const m = await conn.next()
    conn.reply(m.id, { status: 'running', running: true })
    expect(await within(p)).toEqual({ status: 'running', running: true })
    expect(client.isClosed).toBe(false)
  })

  it('times out a command after the client commandTimeoutMs', async () => {
    const { client } = await connected({ commandTimeoutMs: 80 })
    await expect(client.execute('stop')).rejects.toBeInstanceOf(QmpTimeoutError)
  })

  it('rejects every pending command with QmpClosedError when the socket closes mid-command', async () => {
    const { client, conn } = await connected()
    const closeEvents: unknown[] = []
    client.on('close', (r) => closeEvents.push(r))
    const stream = client.events()
    const pending = [client.execute('query-status'), client.execute('stop'), client.executeRaw('query-block')]
    for (let i = 0; i < 3; i++) await conn.next()
    conn.socket.destroy()
    const errors = await within(Promise.all(pending.map((p) => p.catch((e) => e))))
    for (const e of errors) expect(e).toBeInstanceOf(QmpClosedError)
    expect(errors.some((e) => e instanceof QmpProtocolError)).toBe(false)
    expect(await within(client.closed)).toBeInstanceOf(QmpClosedError)
    expect(closeEvents).toHaveLength(1)
    expect(client.isClosed).toBe(true)
    expect(await within(stream.next())).toEqual({ value: undefined, done: true })
    await expect(client.execute('cont')).rejects.toBeInstanceOf(QmpClosedError)
    await expect(client.waitForEvent('STOP')).rejects.toBeInstanceOf(QmpClosedError)
  })

  it('rejects pending commands when the client closes', async () => {
    const { client, conn } = await connected()
    const p = client.execute('query-status')
    await conn.next()
    client.close()
    client.close()
    await expect(p).rejects.toBeInstanceOf(QmpClosedError)
    await within(conn.ended, WAIT, 'server side close')
  })

  it.each([
    ['not JSON', 'this is not QMP\r\n'],
    ['a JSON array', '[1, 2]\r\n'],
    ['an unknown object', '{"hello": "world"}\r\n'],
    ['a reply without an id', '{"return": {}}\r\n'],
    ['a second greeting', `${JSON.stringify(GREETING)}\r\n`],
  ])('closes the connection on garbage (%s) with QmpProtocolError', async (_, garbage) => {
    const { client, conn } = await connected()
    const p = client.execute('query-status')
    await conn.next()
    conn.raw(garbage)
    const e = await within(p.catch((e) => e))
    expect(e).toBeInstanceOf(QmpProtocolError)
    expect(await within(client.closed)).toBe(e)
    await within(conn.ended, WAIT, 'server side close')
    await expect(client.execute('cont')).rejects.toBeInstanceOf(QmpProtocolError)
  })

  it('closes on a line that never ends, instead of buffering forever', async () => {
    const { client, conn } = await connected()
    const chunk = 'x'.repeat(1024 * 1024)
    for (let i = 0; i < 9 && !conn.socket.destroyed; i++) conn.raw(chunk)
    expect(await within(client.closed)).toBeInstanceOf(QmpProtocolError)
  })

  it('fails to connect with QmpProtocolError when the first message is not a greeting', async () => {
    server = await ScriptedServer.listen(path)
    const p = QmpClient.connect(path)
    const conn = await server.accept()
    conn.send({ event: 'STOP', timestamp: { seconds: 0, microseconds: 0 } })
    await expect(within(p)).rejects.toBeInstanceOf(QmpProtocolError)
    await within(conn.ended)
  })

  it('fails to connect with QmpProtocolError on garbage before the greeting', async () => {
    server = await ScriptedServer.listen(path)
    const p = QmpClient.connect(path)
    ;(await server.accept()).raw('SSH-2.0-OpenSSH\r\n')
    await expect(within(p)).rejects.toBeInstanceOf(QmpProtocolError)
  })

  it('times out waiting for a greeting (another client holds the socket)', async () => {
    server = await ScriptedServer.listen(path)
    const started = Date.now()
    const e = await QmpClient.connect(path, { timeoutMs: 150 }).catch((e) => e)
    expect(e).toBeInstanceOf(QmpTimeoutError)
    expect(e.command).toBe('greeting')
    expect(Date.now() - started).toBeLessThan(1_000)
    await within((await server.accept()).ended, WAIT, 'server side close')
  })

  it('fails to connect with QmpConnectError when nothing listens', async () => {
    const e = await QmpClient.connect(path).catch((e) => e)
    expect(e).toBeInstanceOf(QmpConnectError)
    expect(e.code).toBe('ENOENT')
  })

  it('quit() succeeds when QEMU drops the connection before replying', async () => {
    const { client, conn } = await connected()
    const shutdown = client.waitForEvent('SHUTDOWN')
    const quit = client.quit()
    expect((await conn.next()).execute).toBe('quit')
    conn.event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' })
    conn.socket.destroy()
    await within(quit)
    expect((await within(shutdown)).data).toEqual({ guest: false, reason: 'host-qmp-quit' })
  })
})

describe('connectWithRetry', () => {
  it('waits for a socket that appears later', async () => {
    const started = Date.now()
    const connecting = connectWithRetry(path, { deadlineMs: 3_000 })
    await sleep(150)
    server = await ScriptedServer.listen(path)
    const [client] = await Promise.all([within(connecting), server.acceptReady()])
    clients.push(client)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(client.isClosed).toBe(false)
  })

  it('gives up at the deadline with the last error', async () => {
    const started = Date.now()
    const e = await connectWithRetry(path, { deadlineMs: 200 }).catch((e) => e)
    expect(e).toBeInstanceOf(QmpConnectError)
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(100)
    expect(took).toBeLessThan(1_000)
  })

  it('does not retry a protocol error', async () => {
    server = await ScriptedServer.listen(path)
    const p = connectWithRetry(path, { deadlineMs: 3_000 })
    ;(await server.accept()).raw('garbage\n')
    await expect(within(p)).rejects.toBeInstanceOf(QmpProtocolError)
    expect(server.all).toHaveLength(1)
  })

  it('reconnects after the server restarts on the same path', async () => {
    const { client, conn } = await connected()
    const p = client.execute('query-status')
    await conn.next()
    await server!.close()
    server = undefined
    await expect(within(p)).rejects.toBeInstanceOf(QmpClosedError)
    // The new "QEMU" takes a while to come back, at the same socket path.
    const reconnecting = connectWithRetry(path, { deadlineMs: 3_000 })
    await sleep(100)
    await rm(path, { force: true })
    server = await ScriptedServer.listen(path)
    const [again, conn2] = await Promise.all([within(reconnecting), server.acceptReady()])
    clients.push(again)
    const q = again.execute('query-status')
    conn2.reply((await conn2.next()).id, { status: 'running', running: true })
    expect(await within(q)).toEqual({ status: 'running', running: true })
  })
})
