// Shared by the benchmarks: the built server, a small API client, a minimal QMP prober, process
// bookkeeping (every QEMU a benchmark starts is found again by the temp dir its cmdline names, and
// killed), statistics and the machine's load.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiClient } from '../test/helpers/client'
import { connectWithRetry } from '#server/qemu/qmp/index'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const QEMU = process.env.LABVIRT_QEMU || 'qemu-system-x86_64'
export const ADMIN_PASSWORD = 'bench-admin-password'

// ---------------------------------------------------------------------------------------------
// Command line

/** Terminal i's source address: 127.1.x.y, x and y in 1..200 (any 127/8 address is local on Linux). */
export const terminalAddress = (i: number) => `127.1.${1 + Math.floor(i / 200)}.${1 + (i % 200)}`

export function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const n = Number(process.argv[i + 1])
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number`)
  return n
}

export const flag = (name: string) => process.argv.includes(`--${name}`)

// ---------------------------------------------------------------------------------------------
// Cleanup: every temp dir a benchmark makes is registered; at exit every process whose cmdline
// names one of them is SIGKILLed (only those: never by binary name), then the dirs are removed.

const dirs: string[] = []
const cleanups: (() => Promise<void>)[] = []

/** A fresh dir under /tmp (unix socket paths must stay short), removed at exit. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(`/tmp/${prefix}`)
  dirs.push(dir)
  return dir
}

export function onCleanup(fn: () => Promise<void>) {
  cleanups.push(fn)
}

export interface Proc {
  pid: number
  argv: string[]
}

/** Live (non-zombie) processes whose cmdline contains `needle` (a path). */
export function processesNaming(needle: string): Proc[] {
  const out: Proc[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    try {
      const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (!raw.includes(needle)) continue
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (/^[ZXx]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) continue
      out.push({ pid, argv: raw.replace(/\0$/, '').split('\0') })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZXx]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))
  } catch {
    return false
  }
}

/** SIGKILLs every QEMU whose cmdline names `dir` and waits until they are gone. Returns how many. */
export async function killQemusUnder(dir: string, timeoutMs = 10_000): Promise<number> {
  const procs = processesNaming(dir).filter((p) => p.argv[0]?.includes('qemu-system'))
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL')
    } catch {}
  }
  const deadline = Date.now() + timeoutMs
  while (procs.some((p) => alive(p.pid))) {
    if (Date.now() > deadline) throw new Error(`QEMU ${procs.filter((p) => alive(p.pid)).map((p) => p.pid)} did not die`)
    await sleep(20)
  }
  return procs.length
}

let cleaning: Promise<void> | undefined
/** Runs the registered cleanups, kills every QEMU under our temp dirs, checks none is left. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((e) => console.error('cleanup:', e.message))
    let killed = 0
    for (const d of dirs) killed += await killQemusUnder(d).catch((e) => (console.error(e.message), 0))
    const left = dirs.flatMap((d) => processesNaming(d).filter((p) => p.argv[0]?.includes('qemu-system')))
    console.error(`cleanup: killed ${killed} leftover QEMU, ${left.length} left${left.length ? ': ' + left.map((p) => p.pid).join(' ') : ''}`)
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })()
  return cleaning
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up`)
    void cleanup().finally(() => process.exit(130))
  })
}
for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(ev, (err) => {
    console.error(`${ev}:`, err)
    void cleanup().finally(() => process.exit(1))
  })
}

const servers: ChildProcess[] = []
// Last resort if the process exits before cleanup() ran: synchronously kill the servers we started
// and every QEMU naming one of our dirs, and remove the dirs.
process.on('exit', () => {
  for (const p of servers) if (p.exitCode === null && !p.signalCode) p.kill('SIGKILL')
  for (const d of dirs) {
    for (const p of processesNaming(d)) {
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {}
    }
    rmSync(d, { recursive: true, force: true })
  }
})

/** Runs `main`, always cleans up, exits non-zero on failure. */
export function runBench(main: () => Promise<void>) {
  main()
    .then(cleanup, async (err) => {
      console.error(err)
      await cleanup()
      process.exitCode = 1
    })
    .finally(() => setTimeout(() => process.exit(), 200).unref())
}

// ---------------------------------------------------------------------------------------------
// The built server

export function outputDir(): string {
  return resolve(REPO, process.env.LABVIRT_OUTPUT_DIR || '.output')
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => res(port))
    })
  })
}

export interface Server {
  url: string
  dataDir: string
  runDir: string
  imagesDir: string
  proc: ChildProcess
  output(): string
  stop(): Promise<void>
}

let announced = false

/**
 * Starts the built server with the reconcile loop on, TCG, in `dataDir`; the build in `build`
 * (an output directory) instead of LABVIRT_OUTPUT_DIR's, to compare two builds in one run.
 */
export async function startServer(dataDir: string, env: Record<string, string> = {}, build = outputDir()): Promise<Server> {
  const entry = join(resolve(build), 'server/index.mjs')
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (LABVIRT_OUTPUT_DIR=/tmp/out-bench npm run build)`)
  if (build !== outputDir()) console.log(`other server build: ${entry} (built ${statSync(entry).mtime.toISOString()})`)
  else if (!announced) {
    announced = true
    console.log(`server build: ${entry} (built ${statSync(entry).mtime.toISOString()})`)
  }
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let log = ''
  // BENCH_SERVER_NODE_OPTIONS: extra node flags for the server (e.g. --cpu-prof, for diagnostics).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_OPTIONS || '').split(/\s+/).filter(Boolean)
  const proc = spawn(process.execPath, [...nodeArgs, entry], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LABVIRT_DATA_DIR: dataDir,
      LABVIRT_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LABVIRT_ACCEL: 'tcg',
      LABVIRT_RECONCILE: 'on',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  servers.push(proc)
  proc.stdout!.on('data', (d) => (log += d))
  proc.stderr!.on('data', (d) => (log += d))
  const server: Server = {
    url,
    dataDir,
    runDir: join(dataDir, 'run'),
    imagesDir: join(dataDir, 'images'),
    proc,
    output: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode) return
      const exited = new Promise((r) => proc.once('exit', r))
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
  onCleanup(() => server.stop())
  const deadline = Date.now() + 30_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${log}`)
    try {
      if ((await fetch(`${url}/api/health`)).status === 200) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not become healthy:\n${log}`)
    await sleep(50)
  }
  return server
}

/** The tests' API client, plus `must` for a bench that stops at the first unexpected answer. */
export class Api extends ApiClient {
  /** The answer's body; throws unless the status is `expect`. */
  async must<T = any>(method: string, path: string, body?: unknown, expect = [200, 201]): Promise<T> {
    const r = await this.request<T>(method, path, body)
    if (!expect.includes(r.status)) throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }

  /** A 16 MiB blank image `<prefix>img` and a 64 MiB profile `<prefix>prof` on it: every bench's VM. */
  async tinyProfile(prefix: string): Promise<{ id: string }> {
    const image = await this.must('POST', '/api/images', { name: `${prefix}img`, sizeMiB: 16 })
    return this.must('POST', '/api/profiles', { name: `${prefix}prof`, memoryMiB: 64, disks: [{ image: image.id }] })
  }

  override async login() {
    await this.must('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
    return this
  }
}

// ---------------------------------------------------------------------------------------------
// QMP: the server's own client, for the server's VMs and the hand-spawned ones alike.

export const Qmp = {
  /** Connects (retrying every 5 ms while the socket is not there yet), greeting, capabilities. */
  connect: (path: string, timeoutMs = 10_000) => connectWithRetry(path, { deadlineMs: timeoutMs, minDelayMs: 5, maxDelayMs: 5 }),
}

/** Connect, greeting, capabilities, `query-status`: the VM's run state ('running' when up). */
export async function qmpStatus(path: string, timeoutMs = 10_000): Promise<string> {
  const q = await Qmp.connect(path, timeoutMs)
  try {
    return (await q.execute('query-status')).status
  } finally {
    q.close()
  }
}

// ---------------------------------------------------------------------------------------------
// QEMU by hand

/** Spawns QEMU with `argv` (which has -daemonize) and resolves when the daemonizing parent exits. */
export function spawnDaemon(argv: string[]): Promise<number | null> {
  return new Promise((res, rej) => {
    const p = spawn(QEMU, argv, { stdio: 'ignore' })
    p.once('error', rej)
    p.once('exit', (code) => res(code))
  })
}

/** The argv (without the binary) of a running process. */
export function cmdlineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').split('\0').slice(1)
}

/** Replaces `from` by `to` in every argument (moves a VM's pidfile and sockets to another dir). */
export const retarget = (argv: string[], from: string, to: string) => argv.map((a) => a.split(from).join(to))

export async function readPid(pidfile: string): Promise<number> {
  return Number((await readFile(pidfile, 'utf8')).trim())
}

export async function waitGone(pid: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still alive after ${timeoutMs} ms`)
    await sleep(5)
  }
}

export { mkdir, rm, writeFile, sleep }

// ---------------------------------------------------------------------------------------------
// Statistics and the machine

export interface Stats {
  n: number
  median: number
  p90: number
  p95: number
  p99: number
  mean: number
  min: number
  max: number
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (!n) return { n: 0, median: NaN, p90: NaN, p95: NaN, p99: NaN, mean: NaN, min: NaN, max: NaN }
  const median = n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
  // Nearest rank.
  const rank = (p: number) => s[Math.min(n - 1, Math.ceil(p * n) - 1)]!
  return { n, median, p90: rank(0.9), p95: rank(0.95), p99: rank(0.99), mean: s.reduce((a, b) => a + b, 0) / n, min: s[0]!, max: s[n - 1]! }
}

/** Per-repetition differences a[i] - b[i] and ratios a[i] / b[i] (pairs from the same repetition). */
export function paired(a: number[], b: number[]) {
  const n = Math.min(a.length, b.length)
  const diff = Array.from({ length: n }, (_, i) => a[i]! - b[i]!)
  const ratio = Array.from({ length: n }, (_, i) => a[i]! / b[i]!)
  return { diff: stats(diff), ratio: stats(ratio) }
}

export const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-')

export function row(label: string, xs: number[]) {
  const s = stats(xs)
  return `${label.padEnd(52)} n=${String(s.n).padStart(3)}  median ${fmt(s.median).padStart(8)}  p90 ${fmt(s.p90).padStart(8)}  min ${fmt(s.min).padStart(8)}  max ${fmt(s.max).padStart(8)}  (ms)`
}

function cpuTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = (line[3] ?? 0) + (line[4] ?? 0)
  const total = line.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

/** Watches the machine during a run: load averages and how busy all cores were. */
export class MachineLoad {
  private start = cpuTicks()
  private startLoad = loadavg()
  private samples: number[] = []
  private timer = setInterval(() => this.samples.push(loadavg()[0]!), 5000)
  constructor() {
    this.timer.unref()
  }
  report() {
    clearInterval(this.timer)
    const end = cpuTicks()
    const busy = (end.busy - this.start.busy) / Math.max(1, end.total - this.start.total)
    return {
      nproc: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadavgStart: this.startLoad.map((x) => +x.toFixed(2)),
      loadavgEnd: loadavg().map((x) => +x.toFixed(2)),
      loadavg1Max: +Math.max(this.startLoad[0]!, ...this.samples, loadavg()[0]!).toFixed(2),
      cpuBusyPercent: +(busy * 100).toFixed(1),
    }
  }
}

/**
 * A process's scheduler figures summed over its threads (from /proc/<pid>/task/<tid>/schedstat):
 * ms on a CPU and ms runnable but waiting for one (CPU starvation).
 */
export function schedOf(pid: number): { cpuMs: number; waitMs: number } {
  let cpu = 0
  let wait = 0
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [c, w] = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').trim().split(' ').map(Number)
      cpu += c!
      wait += w!
    } catch {}
  }
  return { cpuMs: cpu / 1e6, waitMs: wait / 1e6 }
}

/** Saves a run's figures as JSON under bench/results/. */
export async function saveResult(name: string, data: unknown): Promise<string> {
  const dir = join(REPO, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  const entry = join(outputDir(), 'server/index.mjs')
  let gitHead = ''
  try {
    gitHead = readFileSync(join(REPO, '.git/HEAD'), 'utf8').trim()
    if (gitHead.startsWith('ref: ')) gitHead = readFileSync(join(REPO, '.git', gitHead.slice(5)), 'utf8').trim()
  } catch {}
  const build = existsSync(entry) ? { entry, builtAt: statSync(entry).mtime.toISOString() } : undefined
  await writeFile(file, JSON.stringify({ gitHead, build, ...(data as object) }, null, 2) + '\n')
  return file
}

/**
 * Runs the two sides `reps` times, interleaved ABBA so neither always goes first, pausing
 * `pauseMs` after each run, with a progress counter on stderr.
 */
export async function interleaved(reps: number, a: (record: boolean) => Promise<unknown>, b: (record: boolean) => Promise<unknown>, pauseMs: number) {
  for (let i = 0; i < reps; i++) {
    for (const run of i % 4 === 0 || i % 4 === 3 ? [a, b] : [b, a]) {
      await run(true)
      await sleep(pauseMs)
    }
    process.stderr.write(`\r${i + 1}/${reps}`)
  }
  process.stderr.write('\n')
}
