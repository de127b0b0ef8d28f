import { EventEmitter } from 'node:events'
import { createConnection } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { QmpClosedError, QmpCommandError, QmpConnectError, QmpProtocolError, QmpTimeoutError } from './errors'
import { JsonLineTransport, type QmpMessage } from './transport'
import type { QmpArgs, QmpCommandName, QmpEvent, QmpGreeting, QmpReturn } from './types'

const DEFAULT_TIMEOUT_MS = 5_000

export interface ExecuteOptions {
  /** How long to wait for the reply; default the client's `commandTimeoutMs` (5 s). */
  timeoutMs?: number
}

export interface ConnectOptions {
  /** Socket connect + greeting + capabilities, all together. Default 5 s. */
  timeoutMs?: number
  /** Default reply timeout of `execute`. Default 5 s. */
  commandTimeoutMs?: number
}

interface Pending {
  command: string
  resolve(value: unknown): void
  reject(error: Error): void
  timer: NodeJS.Timeout
  sentAt: number
}

type ClientEvents = {
  event: [QmpEvent]
  /** The connection ended; the reason is a QmpClosedError (QmpProtocolError after garbage). */
  close: [QmpClosedError]
}

/** Arguments of `execute`: optional for commands that take none or only optional ones. */
type ExecuteRest<K extends QmpCommandName> = undefined extends QmpArgs<K>
  ? [args?: QmpArgs<K>, options?: ExecuteOptions]
  : [args: QmpArgs<K>, options?: ExecuteOptions]

/**
 * One QMP connection. QEMU serves one client per `-qmp` socket at a time (a second connection
 * waits, silent, until the first closes), so hold one client per VM and `close()` it when done.
 *
 * Events arrive as `'event'` emissions and through `events()`; `'close'` says the connection is
 * gone (QEMU exited, or `close()`), after which every pending and later command rejects.
 */
export class QmpClient extends EventEmitter<ClientEvents> {
  readonly greeting: QmpGreeting
  /** Resolves (never rejects) when the connection ends, with the reason. */
  readonly closed: Promise<QmpClosedError>
  private readonly transport: JsonLineTransport
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closeReason?: QmpClosedError
  private readonly commandTimeoutMs: number
  /**
   * When the last command succeeded and how long its reply took: the monitor answered then. The
   * readiness prober's liveness check takes a recent one (the reconciler asks `query-status` each
   * pass) instead of asking again.
   */
  get lastReply(): { at: number; ms: number } | undefined { return this.lastReplyAt }
  private lastReplyAt?: { at: number; ms: number }

  private constructor(transport: JsonLineTransport, greeting: QmpGreeting, commandTimeoutMs: number) {
    super()
    this.greeting = greeting
    this.commandTimeoutMs = commandTimeoutMs
    // Each waitForEvent/events() holds listeners only while it waits; many may wait at once.
    this.setMaxListeners(64)
    let onClosed!: (r: QmpClosedError) => void
    this.closed = new Promise((r) => (onClosed = r))
    this.once('close', onClosed)
    this.transport = transport
  }

  /** Connects, reads the greeting and negotiates capabilities. Fails fast; see `connectWithRetry` to wait for a VM. */
  static async connect(path: string, options: ConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const deadline = Date.now() + timeoutMs
    const socket = createConnection({ path })
    let timer: NodeJS.Timeout | undefined
    // Everything before the greeting: the first message must be it.
    const early: QmpMessage[] = []
    let wake: (() => void) | undefined
    let earlyClose: QmpClosedError | undefined
    let client: QmpClient | undefined
    let settled = false
    const transport = new JsonLineTransport(socket, {
      message: (m) => (client ? client.receive(m) : (early.push(m), wake?.())),
      close: (reason) => (client ? client.finish(reason) : ((earlyClose = reason), wake?.())),
    })
    try {
      const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
        timer = setTimeout(() => {
          reject(new QmpTimeoutError('greeting', timeoutMs, ' (QEMU serves one QMP client at a time: is another one connected?)'))
        }, timeoutMs)
        socket.once('error', (e: NodeJS.ErrnoException) => {
          if (!socket.connecting && socket.bytesRead > 0) return
          reject(new QmpConnectError(path, e.code ?? 'EIO', { cause: e }))
        })
        wake = () => {
          // Only the first message decides; later ones wait in `early` for the client.
          if (settled) return
          const first = early[0]
          if (first) {
            settled = true
            early.shift()
            if (first.QMP && typeof first.QMP === 'object') resolve(first as unknown as QmpGreeting)
            else reject(new QmpProtocolError('QMP greeting expected', JSON.stringify(first)))
          } else if (earlyClose) {
            settled = true
            reject(earlyClose)
          }
        }
      })
      clearTimeout(timer)
      client = new QmpClient(transport, greeting, options.commandTimeoutMs ?? DEFAULT_TIMEOUT_MS)
      for (const m of early) client.receive(m)
      if (earlyClose) client.finish(earlyClose)
      await client.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1, deadline - Date.now()) })
      return client
    } catch (e) {
      clearTimeout(timer)
      const error = e instanceof QmpClosedError ? e : new QmpClosedError('QMP connect failed')
      transport.destroy(error)
      throw e
    }
  }

  get isClosed() {
    return this.closeReason !== undefined
  }

  /** Runs a typed command. Rejects with QmpCommandError, QmpTimeoutError or QmpClosedError. */
  execute<K extends QmpCommandName>(command: K, ...[args, options]: ExecuteRest<K>): Promise<QmpReturn<K>> {
    return this.executeRaw(command, args as Record<string, unknown> | undefined, options) as Promise<QmpReturn<K>>
  }

  /** Runs any command, untyped: for commands `QmpCommands` does not list yet. */
  executeRaw(command: string, args?: Record<string, unknown>, options: ExecuteOptions = {}): Promise<unknown> {
    if (this.closeReason) return Promise.reject(this.closeReason)
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The reply may still come; with its id forgotten, it is dropped.
        this.pending.delete(id)
        reject(new QmpTimeoutError(command, timeoutMs))
      }, timeoutMs)
      this.pending.set(id, { command, resolve, reject, timer, sentAt: Date.now() })
      this.transport.send(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })
    })
  }

  /**
   * `quit`, counting the connection dropping as success: QEMU sends SHUTDOWN, then the reply, then
   * resets the socket, and the reset can win the race with the reply.
   */
  async quit(options: ExecuteOptions = {}): Promise<void> {
    try {
      await this.execute('quit', undefined, options)
    } catch (e) {
      if (!(e instanceof QmpClosedError) || e instanceof QmpProtocolError) throw e
    }
  }

  /**
   * The next event named `name` (and matching `filter`). Call it before the command that causes
   * the event, or the event may come first. Rejects on timeout (default 5 s) or when the connection closes.
   */
  waitForEvent<D = Record<string, unknown>>(
    name: string,
    options: { timeoutMs?: number; filter?: (e: QmpEvent<D>) => boolean } = {},
  ): Promise<QmpEvent<D>> {
    if (this.closeReason) return Promise.reject(this.closeReason)
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        this.off('event', onEvent)
        this.off('close', onClose)
      }
      const onEvent = (e: QmpEvent) => {
        if (e.event !== name || (options.filter && !options.filter(e as QmpEvent<D>))) return
        done()
        resolve(e as QmpEvent<D>)
      }
      const onClose = (reason: QmpClosedError) => {
        done()
        reject(reason)
      }
      const timer = setTimeout(() => {
        done()
        reject(new QmpTimeoutError(`event ${name}`, timeoutMs))
      }, timeoutMs)
      this.on('event', onEvent)
      this.on('close', onClose)
    })
  }

  /**
   * Events from now on, as an async iterator that ends when the connection closes. Events are
   * buffered while the consumer is busy; `break` out of the loop to stop listening.
   */
  events(): AsyncIterableIterator<QmpEvent> {
    const queue: QmpEvent[] = []
    // Callers may call next() again before an earlier call resolved: serve them in order.
    const waiting: ((r: IteratorResult<QmpEvent>) => void)[] = []
    let done = this.isClosed
    const onEvent = (e: QmpEvent) => {
      const w = waiting.shift()
      if (w) w({ value: e, done: false })
      else queue.push(e)
    }
    const stop = () => {
      done = true
      this.off('event', onEvent)
      this.off('close', stop)
      for (const w of waiting.splice(0)) w({ value: undefined, done: true })
    }
    if (!done) {
      this.on('event', onEvent)
      this.on('close', stop)
    }
    const iterator: AsyncIterableIterator<QmpEvent> = {
      next: () => {
        const e = queue.shift()
        if (e) return Promise.resolve({ value: e, done: false })
        if (done) return Promise.resolve({ value: undefined, done: true })
        return new Promise((r) => waiting.push(r))
      },
      return: () => {
        stop()
        queue.length = 0
        return Promise.resolve({ value: undefined, done: true })
      },
      [Symbol.asyncIterator]: () => iterator,
    }
    return iterator
  }

  /** Closes the connection (`socket.destroy()`); pending commands reject with QmpClosedError. Idempotent. */
  close() {
    this.transport.destroy(new QmpClosedError('QMP connection closed by the client'))
  }

  private receive(msg: QmpMessage) {
    if (typeof msg.event === 'string') {
      const event: QmpEvent = {
        event: msg.event,
        data: (msg.data && typeof msg.data === 'object' ? msg.data : {}) as Record<string, unknown>,
        timestamp: (msg.timestamp as QmpEvent['timestamp']) ?? { seconds: 0, microseconds: 0 },
      }
      this.emit('event', event)
      return
    }
    if ('return' in msg || 'error' in msg) {
      // Every command we send carries an id, so a reply without one means the stream is out of step.
      if (typeof msg.id !== 'number') return this.transport.fail(new QmpProtocolError('QMP reply without our id', JSON.stringify(msg)))
      const p = this.pending.get(msg.id)
      if (!p) return // the reply to a command that timed out
      this.pending.delete(msg.id)
      clearTimeout(p.timer)
      if ('error' in msg) {
        const err = (msg.error ?? {}) as { class?: unknown; desc?: unknown }
        p.reject(new QmpCommandError(p.command, String(err.class ?? 'GenericError'), String(err.desc ?? '')))
      } else {
        const at = Date.now()
        this.lastReplyAt = { at, ms: at - p.sentAt }
        p.resolve(msg.return)
      }
      return
    }
    this.transport.fail(new QmpProtocolError('QMP sent an unknown message', JSON.stringify(msg)))
  }

  private finish(reason: QmpClosedError) {
    if (this.closeReason) return
    this.closeReason = reason
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(reason)
    }
    this.pending.clear()
    this.emit('close', reason)
  }
}

export interface RetryOptions extends ConnectOptions {
  /** Give up after this long, in total. Default 10 s. */
  deadlineMs?: number
  /** First pause between attempts; doubles up to `maxDelayMs`. Defaults 10 ms and 250 ms. */
  minDelayMs?: number
  maxDelayMs?: number
  signal?: AbortSignal
}

/** Errors that mean "not up yet" (QEMU starting, restarting, or the previous client still attached). */
const retryable = (e: unknown) =>
  e instanceof QmpConnectError || e instanceof QmpTimeoutError || (e instanceof QmpClosedError && !(e instanceof QmpProtocolError))

/**
 * Connects, retrying with backoff until `deadlineMs`: for a VM that is starting, or a QEMU that
 * restarts on the same socket path. Throws the last error once the deadline passes.
 */
export async function connectWithRetry(path: string, options: RetryOptions = {}): Promise<QmpClient> {
  const deadline = Date.now() + (options.deadlineMs ?? 10_000)
  let delay = options.minDelayMs ?? 10
  const maxDelay = options.maxDelayMs ?? 250
  for (;;) {
    options.signal?.throwIfAborted()
    const left = deadline - Date.now()
    try {
      return await QmpClient.connect(path, { ...options, timeoutMs: Math.max(1, Math.min(left, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)) })
    } catch (e) {
      if (!retryable(e) || Date.now() + delay >= deadline) throw e
    }
    await sleep(delay, undefined, { signal: options.signal })
    delay = Math.min(delay * 2, maxDelay)
  }
}
