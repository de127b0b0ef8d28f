import type { Socket } from 'node:net'
import { QmpClosedError, QmpProtocolError } from './errors'

export type QmpMessage = Record<string, unknown>

export interface TransportHandlers {
  message(msg: QmpMessage): void
  /** Called once, with why the connection ended. */
  close(reason: QmpClosedError): void
}

/** QMP replies are small; a line this long without a newline is not QMP. */
const MAX_LINE = 8 * 1024 * 1024

/**
 * QMP's wire format: one JSON object per line, both ways. Anything else on the socket is a
 * protocol error and ends the connection (there is no way to resynchronise a JSON stream).
 */
export class JsonLineTransport {
  private buffer = ''
  private ended = false
  private socketError?: NodeJS.ErrnoException

  constructor(
    private readonly socket: Socket,
    private readonly handlers: TransportHandlers,
  ) {
    // A UTF-8 decoder keeps multi-byte characters split across chunks whole.
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => this.receive(chunk))
    socket.on('error', (err) => (this.socketError = err))
    socket.on('close', () => {
      const code = this.socketError?.code
      this.finish(new QmpClosedError(code ? `QMP connection closed (${code})` : 'QMP connection closed by the peer'))
    })
  }

  get closed() {
    return this.ended
  }

  send(msg: QmpMessage) {
    if (this.ended) throw new QmpClosedError('QMP connection is closed')
    this.socket.write(`${JSON.stringify(msg)}\n`)
  }

  /** Ends the connection now; pending work sees `reason`. `destroy()` rather than `end()`: QEMU may never half-close. */
  destroy(reason: QmpClosedError = new QmpClosedError('QMP connection closed by the client')) {
    this.finish(reason)
    this.socket.destroy()
  }

  private finish(reason: QmpClosedError) {
    if (this.ended) return
    this.ended = true
    this.buffer = ''
    this.handlers.close(reason)
  }

  private receive(chunk: string) {
    // Only the new chunk is searched for newlines, so a long partial line costs linear time.
    let start = 0
    let nl: number
    while (!this.ended && (nl = chunk.indexOf('\n', start)) >= 0) {
      const line = (this.buffer + chunk.slice(start, nl)).trim()
      this.buffer = ''
      start = nl + 1
      if (line) this.parse(line)
    }
    if (this.ended) return
    this.buffer += chunk.slice(start)
    if (this.buffer.length > MAX_LINE) this.fail(new QmpProtocolError('QMP line too long', this.buffer))
  }

  private parse(line: string) {
    let msg: unknown
    try {
      msg = JSON.parse(line)
    } catch {
      return this.fail(new QmpProtocolError('QMP sent invalid JSON', line))
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return this.fail(new QmpProtocolError('QMP sent a non-object', line))
    this.handlers.message(msg as QmpMessage)
  }

  /** For the client to report a well-formed JSON message that is still not QMP. */
  fail(error: QmpProtocolError) {
    this.destroy(error)
  }
}
