import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ApiClient, adminClient } from '../../helpers/client'
import { create, uniqueName } from '../../helpers/fixtures'
import { startServer, type TestServer } from '../../helpers/server'
import { connectWithRetry, type QmpClient } from '#server/qemu/qmp/index'
import { vmPaths } from '#server/qemu/paths'

// Shared by the real-VM tests: a built server running the reconcile loop on real QEMU (TCG, tiny
// VMs), and bounded waits that say what they last saw when they give up.

/** GET /api/vms, one element. */
export interface Vm {
  id: string
  kind: 'seat' | 'maintenance' | 'manual'
  lab?: string
  seat?: number
  profile: string
  state: 'stopped' | 'starting' | 'running' | 'stopping' | 'failed'
  pid?: number
  version?: number
  startedAt?: string
  error?: string
  failures: number
  retryAt?: string
  held: boolean
  /** Running, and its service answers the probe (or the profile's probe is `none`). */
  ready: boolean
  readySince?: string
  unhealthy?: string
}

export interface VmWorld {
  server: TestServer
  api: ApiClient
  runDir: string
  imagesDir: string
  /** Stops the server and kills every QEMU it left (pidfile or not), then removes its data. */
  dispose(): Promise<void>
}

/** Ticks every second and a powerdown that gives up on the guest after one: tests stay fast. */
export const FAST = { LABVIRT_RECONCILE_INTERVAL: '1', LABVIRT_POWERDOWN_TIMEOUT: '1' }

export async function startVmServer(env: Record<string, string> = {}): Promise<VmWorld> {
  const server = await startServer({ ...FAST, ...env }, { vms: true })
  const runDir = join(server.dataDir, 'run')
  const world: VmWorld = {
    server,
    api: await adminClient(server.url),
    runDir,
    imagesDir: join(server.dataDir, 'images'),
    async dispose() {
      await server.stop()
      // dispose() kills what has a pidfile; a QEMU whose pidfile went (or a duplicate) is found by
      // its command line, which names the run dir.
      for (const p of qemuProcesses(runDir)) {
        try {
          process.kill(p.pid, 'SIGKILL')
        } catch {}
      }
      await server.dispose()
    },
  }
  return world
}

export interface LabRecords {
  image: { id: string; file: string; virtualSize: number }
  profile: { id: string }
  lab: { id: string; revision: number }
}

/** A blank 16 MiB qcow2, a 64 MiB profile on it (probe `none`), and a lab of `size` seats in user networking. */
export async function makeLab(api: ApiClient, size: number, prefix = 'v'): Promise<LabRecords> {
  const image = await create(api, 'images', { name: uniqueName(`${prefix}i`), sizeMiB: 16 })
  // A blank disk answers on no port: running counts as ready (probe `none`), as for terminals before probes.
  const profile = await create(api, 'profiles', { name: uniqueName(`${prefix}p`), memoryMiB: 64, cpus: 1, disks: [{ image: image.id }], probe: 'none' })
  const lab = await create(api, 'labs', { name: uniqueName(`${prefix}l`), size, max: Math.max(size, 4), profiles: [profile.id], network: { mode: 'user' } })
  return { image, profile, lab }
}

export async function setLabSize(api: ApiClient, lab: string, size: number) {
  const cur = await api.get(`/api/labs/${lab}`)
  if (cur.status !== 200) throw new Error(`GET lab ${lab}: ${cur.status} ${JSON.stringify(cur.body)}`)
  const res = await api.put(`/api/labs/${lab}`, { ...cur.body, size })
  if (res.status !== 200) throw new Error(`PUT lab ${lab} size ${size}: ${res.status} ${JSON.stringify(res.body)}`)
}

export async function listVms(api: ApiClient): Promise<Vm[]> {
  const res = await api.get<Vm[]>('/api/vms')
  if (res.status !== 200) throw new Error(`GET /api/vms: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

export async function getVm(api: ApiClient, id: string): Promise<Vm | undefined> {
  return (await listVms(api)).find((v) => v.id === id)
}

export const seatsOf = (vms: Vm[], lab: string) => vms.filter((v) => v.lab === lab && v.kind === 'seat').sort((a, b) => a.seat! - b.seat!)
export const brief = (vms: Vm[]) => vms.map((v) => `${v.id}:${v.state}${v.pid ? `/${v.pid}` : ''}${v.error ? ` (${v.error})` : ''}`).join(', ')

export async function action(api: ApiClient, id: string, name: string) {
  const res = await api.post(`/api/vms/${id}/actions`, { action: name })
  if (res.status !== 200) throw new Error(`${name} ${id}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as Vm
}

/**
 * Polls `probe` until it returns a value (not undefined/false/null), for at most `ms`. `see` records
 * what the probe observed, so a timeout says what the state was instead of just "timed out".
 */
export async function waitFor<T>(what: string, ms: number, probe: (see: (x: unknown) => void) => Promise<T | undefined | null | false>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms
  let seen: unknown = '(nothing)'
  const see = (x: unknown) => void (seen = x)
  for (;;) {
    const value = await probe(see)
    if (value !== undefined && value !== null && value !== false) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last seen: ${typeof seen === 'string' ? seen : JSON.stringify(seen)}`)
    await sleep(everyMs)
  }
}

/** Reconcile passes this server has finished, from its /metrics (the pass-duration histogram's count). */
export async function passesDone(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const m = /^labvirt_reconcile_pass_seconds_count(?:\{[^}]*\})? (\d+)$/m.exec(text)
  if (!m) throw new Error('no labvirt_reconcile_pass_seconds_count in /metrics')
  return Number(m[1])
}

/** Checks `check` until `n` more reconcile passes have finished: "nothing happened" over real passes, not a guessed time. */
export async function acrossPasses(server: TestServer, n: number, check: () => Promise<void>, ms = 30_000) {
  const target = (await passesDone(server)) + n
  await waitFor(`${n} reconcile passes`, ms, async (see) => {
    await check()
    const done = await passesDone(server)
    see(`${done} of ${target} passes`)
    return done >= target
  }, 200)
}

/** A process's argv, or null when it is gone or a zombie (a zombie's cmdline is empty). */
export function cmdline(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^[ZXx]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) return null
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return raw ? raw.replace(/\0$/, '').split('\0') : null
  } catch {
    return null
  }
}

export const alive = (pid: number) => cmdline(pid) !== null

/** Every live process (not a zombie) whose command line names a file in `runDir`: this server's QEMUs. */
export function qemuProcesses(runDir: string): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const argv = cmdline(Number(entry))
    if (argv?.some((a) => a.startsWith(`${runDir}/`) || a.includes(`unix:${runDir}/`))) out.push({ pid: Number(entry), argv })
  }
  return out
}

/** The `-drive` option strings of an argv. */
export const drives = (argv: string[]) => argv.flatMap((a, i) => (argv[i - 1] === '-drive' ? [a] : []))

/** The VM whose pidfile is `<runDir>/<id>.pid`, if a live process says so. */
export function processOf(runDir: string, id: string) {
  const pidfile = vmPaths(runDir, id).pidfile
  return qemuProcesses(runDir).filter((p) => p.argv.some((a, i) => p.argv[i - 1] === '-pidfile' && a === pidfile))
}

/** The VM's second QMP socket (the first is the server's). */
export function toolQmp(runDir: string, id: string): Promise<QmpClient> {
  return connectWithRetry(vmPaths(runDir, id).toolQmp, { deadlineMs: 5_000 })
}

/** Runs an HMP command through QMP and returns its text output. */
export async function hmp(qmp: QmpClient, line: string): Promise<string> {
  return qmp.execute('human-monitor-command', { 'command-line': line }, { timeoutMs: 10_000 })
}

/**
 * The first `bytes` of a drive as the guest sees it (snapshot overlay included), copied out by a
 * QMP backup job into a raw file: HMP's qemu-io prints to QEMU's stdout, which is /dev/null once
 * daemonized, so it cannot say what it read. (drive-backup would not do: on a snapshot=on drive it
 * opens its target as a temporary file too, and deletes it.)
 */
export async function guestView(qmp: QmpClient, drive: string, sizeBytes: number, bytes = 65536): Promise<Buffer> {
  // Generous: on a loaded host a TCG guest can keep QEMU's main loop from answering for seconds.
  const timeoutMs = 30_000
  const dir = await mkdtemp(join(tmpdir(), 'labvirt-view-'))
  const target = join(dir, 'view.raw')
  const node = `view${Math.floor(Math.random() * 1e9)}`
  try {
    await writeFile(target, '')
    await truncate(target, sizeBytes)
    // QEMU opens it long after it dropped root (LABVIRT_QEMU_USER): let whichever user it runs as.
    await chmod(dir, 0o711)
    await chmod(target, 0o666)
    await qmp.executeRaw('blockdev-add', { driver: 'raw', 'node-name': node, file: { driver: 'file', filename: target } }, { timeoutMs })
    try {
      const done = qmp.waitForEvent<{ device: string; error?: string }>('BLOCK_JOB_COMPLETED', { timeoutMs, filter: (e) => e.data.device === node })
      await qmp.executeRaw('blockdev-backup', { device: drive, target: node, sync: 'full', 'job-id': node }, { timeoutMs })
      const ev = await done
      if (ev.data.error) throw new Error(`backup of ${drive} failed: ${ev.data.error}`)
    } finally {
      await qmp.executeRaw('blockdev-del', { 'node-name': node }, { timeoutMs }).catch(() => {})
    }
    return (await readFile(target)).subarray(0, bytes)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex')

