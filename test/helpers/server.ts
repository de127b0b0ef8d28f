import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './ports'
import { cacheRoot } from './cache'

export const ADMIN_PASSWORD = 'admin-password-for-tests'
// import.meta.url, not __dirname: bench/ bundles these helpers as ES modules.
const OUTPUT = resolve(fileURLToPath(new URL('../..', import.meta.url)), process.env.LABVIRT_OUTPUT_DIR || '.output')
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

// User-mode seats listen on their lab's forwarded host ports: every live test server gets its own
// block (claimed with an exclusive file naming the claiming process), below the kernel's ephemeral
// ports (32768 up) so freePort() and outgoing connections never take one either.
const FORWARD_CLAIMS = join(tmpdir(), 'labvirt-test-forward-ports')
const FORWARD_FIRST = 10_000
const FORWARD_BLOCK = 500
const FORWARD_BLOCKS = 45

async function claimForwardBlock(): Promise<{ range: string; release: () => Promise<void> }> {
  await mkdir(FORWARD_CLAIMS, { recursive: true })
  const start = Math.floor(Math.random() * FORWARD_BLOCKS)
  for (let i = 0; i < FORWARD_BLOCKS; i++) {
    const n = (start + i) % FORWARD_BLOCKS
    const file = join(FORWARD_CLAIMS, String(n))
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' })
    } catch {
      // Taken, unless its process is gone (a test run killed before it disposed its servers).
      const owner = Number(await readFile(file, 'utf8').catch(() => ''))
      if (owner && alive(owner)) continue
      await rm(file, { force: true })
      try {
        await writeFile(file, String(process.pid), { flag: 'wx' })
      } catch {
        continue
      }
    }
    const from = FORWARD_FIRST + n * FORWARD_BLOCK
    return { range: `${from}-${from + FORWARD_BLOCK - 1}`, release: () => rm(file, { force: true }) }
  }
  throw new Error(`all ${FORWARD_BLOCKS} forwarded port blocks are taken (see ${FORWARD_CLAIMS})`)
}

async function waitForHealth(url: string, proc: ChildProcess, out: () => string, healthy: boolean) {
  // Generous: on a loaded two-core machine a cold Node start plus the admin bootstrap can take long.
  const deadline = Date.now() + 60_000
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
  /** Run the reconcile loop (real QEMU VMs); off by default for API-only tests. */
  vms?: boolean
  /**
   * Run inside this network namespace (test/helpers/netns.ts), listening on all its addresses;
   * the test reaches it at `address` (e.g. the namespace's end of NetWorld.uplink).
   */
  netns?: { name: string; address: string }
}

/** Starts the built server (`.output/server/index.mjs`) on a free loopback port with its own data dir. */
export async function startServer(extraEnv: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = extraEnv.LABVIRT_DATA_DIR ?? (await mkdtemp(join(tmpdir(), 'labvirt-test-')))
  const port = await freePort()
  const forwards = extraEnv.LABVIRT_FORWARD_PORTS ? undefined : await claimForwardBlock()
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HOST: opts.netns ? '0.0.0.0' : '127.0.0.1',
    PORT: String(port),
    LABVIRT_DATA_DIR: dataDir,
    LABVIRT_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LABVIRT_ACCEL: 'tcg',
    LABVIRT_RECONCILE: opts.vms ? 'on' : 'off',
    // Resource sampling reads /proc and asks QMP every few seconds: only the tests that want it.
    LABVIRT_SAMPLE_INTERVAL: 'off',
    LABVIRT_FORWARD_ADDRESS: '127.0.0.1',
    // The demo's tiny guest: built once for every test server (and the tests' own guests).
    LABVIRT_CACHE_DIR: cacheRoot(),
    ...(forwards ? { LABVIRT_FORWARD_PORTS: forwards.range } : {}),
    ...extraEnv,
  }
  let log = ''
  const url = `http://${opts.netns?.address ?? '127.0.0.1'}:${port}`
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
      // VMs are daemonized and outlive the server on purpose; a test must not leave them behind.
      await killVms(join(dataDir, 'run'))
      await forwards?.release()
      if (!extraEnv.LABVIRT_DATA_DIR) await rm(dataDir, { recursive: true, force: true })
    },
  }
  async function launch() {
    // `ip netns exec` execs node: the child's pid and signals are the server's own.
    const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns.name, process.execPath, ENTRY] : [process.execPath, ENTRY]
    const proc = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.on('data', (d) => (log += d))
    proc.stderr!.on('data', (d) => (log += d))
    server.proc = proc
    await waitForHealth(url, proc, () => log, opts.healthy ?? true)
  }
  try {
    await launch()
  } catch (err) {
    await forwards?.release()
    throw err
  }
  return server
}

/** SIGKILLs every QEMU whose pidfile is in `runDir` and waits until they are gone. */
export async function killVms(runDir: string) {
  let files: string[] = []
  try {
    files = await readdir(runDir)
  } catch {
    return
  }
  const pids: number[] = []
  for (const f of files.filter((f) => f.endsWith('.pid'))) {
    const pid = Number((await readFile(join(runDir, f), 'utf8').catch(() => '')).trim())
    if (!pid) continue
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (!cmdline.includes(join(runDir, f))) continue
    try {
      process.kill(pid, 'SIGKILL')
      pids.push(pid)
    } catch {}
  }
  const deadline = Date.now() + 5000
  while (Date.now() < deadline && pids.some((p) => alive(p))) await new Promise((r) => setTimeout(r, 20))
}

function alive(pid: number) {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie is dead for our purposes (its parent may reap it late).
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
