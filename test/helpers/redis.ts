import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports'

export interface RedisOptions {
  /**
   * Keep data across a stop/start (append-only file, fsync on every write, in the server's own
   * dir). Off by default: a test store lives in memory only (`--save '' --appendonly no`).
   */
  persistent?: boolean
}

export interface TestRedis {
  port: number
  /** `redis://127.0.0.1:<port>/0`, for LABVIRT_STORE_URL. */
  url: string
  /** The server's working dir (its append-only file when persistent). */
  dir: string
  /** Output of redis-server so far. */
  output(): string
  /** Whether a redis-server process is running now. */
  running(): boolean
  /** Starts redis-server again on the same port and dir; resolves once it answers PING. */
  start(): Promise<void>
  /** SIGTERM (a clean shutdown) or SIGKILL (a crash); resolves once the process has exited. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>
  /** SIGSTOP: the process keeps its socket open but answers nothing (a hung server). */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  /** Stops it and removes its dir. */
  dispose(): Promise<void>
}

const START_DEADLINE_MS = 10_000
const STOP_DEADLINE_MS = 5_000

/** Sends one PING over a fresh connection; true on `+PONG` within `timeoutMs`. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok: boolean) => {
      clearTimeout(timer)
      sock.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    sock.once('error', () => done(false))
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d) => {
      buf += d.toString('latin1')
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'))
    })
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Starts a real `redis-server` on a free loopback port, with its own temporary dir. */
export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'labvirt-redis-'))
  let port = 0
  let proc: ChildProcess | undefined
  let log = ''

  const args = () => [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    ...(opts.persistent
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
    '--daemonize', 'no',
    '--loglevel', 'warning',
  ]

  const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null

  async function launch(): Promise<void> {
    const p = spawn('redis-server', args(), { stdio: ['ignore', 'pipe', 'pipe'] })
    p.stdout!.on('data', (d) => (log += d))
    p.stderr!.on('data', (d) => (log += d))
    p.on('error', (err) => (log += `\nspawn error: ${err.message}\n`))
    proc = p
    const deadline = Date.now() + START_DEADLINE_MS
    while (Date.now() < deadline) {
      if (exited(p)) throw new Error(`redis-server exited (${p.exitCode ?? p.signalCode}) on port ${port}:\n${log}`)
      if (await ping(port)) return
      await sleep(25)
    }
    p.kill('SIGKILL')
    throw new Error(`redis-server did not answer PING on port ${port} within ${START_DEADLINE_MS} ms:\n${log}`)
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
    const p = proc
    if (!p || exited(p)) return
    const gone = new Promise<void>((r) => p.once('exit', () => r()))
    if (p.signalCode === null) p.kill('SIGCONT') // a paused server cannot handle SIGTERM
    p.kill(signal)
    const timer = setTimeout(() => p.kill('SIGKILL'), STOP_DEADLINE_MS)
    await gone
    clearTimeout(timer)
  }

  // The port comes free from the kernel, but another process may take it before redis binds it:
  // try a few ports before giving up.
  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    try {
      await launch()
      break
    } catch (err) {
      await stop('SIGKILL')
      if (attempt >= 2) {
        await rm(dir, { recursive: true, force: true })
        throw err
      }
    }
  }

  const redis: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    output: () => log,
    running: () => proc !== undefined && !exited(proc),
    async start() {
      if (redis.running()) throw new Error('redis-server is already running')
      await launch()
    },
    stop,
    pause() {
      proc?.kill('SIGSTOP')
    },
    resume() {
      proc?.kill('SIGCONT')
    },
    async dispose() {
      await stop('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    },
  }
  return redis
}
