import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { freePort } from './ports'

export const ADMIN_PASSWORD = 'admin-password-for-tests'
const OUTPUT = resolve(__dirname, '../..', process.env.LABVIRT_OUTPUT_DIR || '.output')
const ENTRY = join(OUTPUT, 'server/index.mjs')

export interface TestServer {
  url: string
  dataDir: string
  env: Record<string, string>
  proc: ChildProcess
  /** Output of the server so far (stdout and stderr). */
  output(): string
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>
  stop(): Promise<void>
  /** Starts the server again on the same port, data and settings. */
  restart(): Promise<void>
  /** Stops it and removes its data directory. */
  dispose(): Promise<void>
}

async function waitForHealth(url: string, proc: ChildProcess, out: () => string, healthy: boolean) {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${out()}`)
    try {
      const res = await fetch(`${url}/api/health`)
      // 503 = listening, but start-up unfinished or the store unreachable.
      if (res.status === 200 || (!healthy && res.status === 503)) return
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`server did not answer /api/health:\n${out()}`)
}

export interface StartOptions {
  /** Wait for /api/health to be 200 (default); false: return once it listens, store or not. */
  healthy?: boolean
}

/** Starts the built server (`.output/server/index.mjs`) on a free loopback port with its own data dir. */
export async function startServer(extraEnv: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = extraEnv.LABVIRT_DATA_DIR ?? (await mkdtemp(join(tmpdir(), 'labvirt-test-')))
  const port = await freePort()
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HOST: '127.0.0.1',
    PORT: String(port),
    LABVIRT_DATA_DIR: dataDir,
    LABVIRT_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LABVIRT_ACCEL: 'tcg',
    ...extraEnv,
  }
  let log = ''
  const url = `http://127.0.0.1:${port}`
  const server: TestServer = {
    url,
    dataDir,
    env,
    proc: undefined as unknown as ChildProcess,
    output: () => log,
    async kill() {
      if (server.proc.exitCode !== null || server.proc.signalCode) return
      const exited = new Promise((r) => server.proc.once('exit', r))
      server.proc.kill('SIGKILL')
      await exited
    },
    async stop() {
      if (server.proc.exitCode !== null || server.proc.signalCode) return
      const exited = new Promise((r) => server.proc.once('exit', r))
      server.proc.kill('SIGTERM')
      const timer = setTimeout(() => server.proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
    async restart() {
      await server.stop()
      await launch()
    },
    async dispose() {
      await server.stop()
      if (!extraEnv.LABVIRT_DATA_DIR) await rm(dataDir, { recursive: true, force: true })
    },
  }
  async function launch() {
    const proc = spawn(process.execPath, [ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.on('data', (d) => (log += d))
    proc.stderr!.on('data', (d) => (log += d))
    server.proc = proc
    await waitForHealth(url, proc, () => log, opts.healthy ?? true)
  }
  await launch()
  return server
}
