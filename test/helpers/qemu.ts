import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { vmPaths } from '#server/qemu/paths'

export const QEMU = process.env.LABVIRT_QEMU || 'qemu-system-x86_64'

export interface TinyVm {
  name: string
  runDir: string
  pidfile: string
  qmp: string
  vnc: string
  pid: number
  argv: string[]
}

export interface StartOptions {
  name?: string
  /** Defaults to a fresh temp dir this harness removes. */
  runDir?: string
  /** Replaces the whole argv (the harness still tracks `runDir/<name>.pid` to kill it). */
  argv?: string[]
  /** Appended to the default argv. */
  extraArgs?: string[]
}

/** The argv of an idle tiny VM: TCG (never KVM here, see QEMU-FACTS), 64 MiB, no devices, unix sockets. */
export function tinyArgv(runDir: string, name: string, extraArgs: string[] = []): string[] {
  const p = vmPaths(runDir, name)
  return [
    '-name', name, '-accel', 'tcg', '-m', '64', '-nodefaults', '-display', 'none',
    '-qmp', `unix:${p.qmp},server=on,wait=off`, '-vnc', `unix:${p.vnc}`,
    '-pidfile', p.pidfile, '-daemonize', ...extraArgs,
  ]
}

/** Whether `pid` is alive and not a zombie. */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZXx]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))
  } catch {
    return false
  }
}

/** Polls `check` every 10 ms until it holds, for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`)
    await sleep(10)
  }
}

/**
 * Starts daemonized tiny QEMUs in temp run dirs and always kills them: call `dispose()` in
 * `afterAll`/`afterEach`. It kills only processes whose cmdline names a pidfile it handed out,
 * so a reused pid is never hit.
 */
export class QemuHarness {
  private readonly dirs: string[] = []
  /** pidfile -> pid, once known (0 until then): a pidfile can vanish while its process lives on. */
  private readonly pidfiles = new Map<string, number>()

  /** A fresh run dir under /tmp: unix socket paths must stay under 108 bytes. */
  async runDir(): Promise<string> {
    const dir = await mkdtemp('/tmp/labvirt-qemu-')
    this.dirs.push(dir)
    return dir
  }

  async start(options: StartOptions = {}): Promise<TinyVm> {
    const name = options.name ?? 'tiny'
    const runDir = options.runDir ?? (await this.runDir())
    const paths = vmPaths(runDir, name)
    const argv = options.argv ?? tinyArgv(runDir, name, options.extraArgs)
    // Tracked before spawning: if the start half-works, dispose() still finds the daemon.
    this.pidfiles.set(paths.pidfile, 0)
    const r = await execa(QEMU, argv, { reject: false, timeout: 20_000, stdin: 'ignore' })
    if (r.exitCode !== 0) throw new Error(`QEMU failed to start (${r.exitCode ?? r.signal}): ${r.stderr}`)
    const pid = Number((await readFile(paths.pidfile, 'utf8')).trim())
    this.pidfiles.set(paths.pidfile, pid)
    return { name, runDir, ...paths, pid, argv }
  }

  /** SIGKILL, as a crash would, and wait until the process is gone (or a zombie). */
  async kill(vm: Pick<TinyVm, 'pid' | 'pidfile'>): Promise<void> {
    if (!(await this.ours(vm.pid, vm.pidfile))) return
    try {
      process.kill(vm.pid, 'SIGKILL')
    } catch {}
    await until(async () => !(await alive(vm.pid)), 5_000, `QEMU ${vm.pid} exit`)
  }

  /** Kills every QEMU this harness started that still runs, and removes its run dirs. */
  async dispose(): Promise<void> {
    const errors: unknown[] = []
    for (const [pidfile, known] of this.pidfiles) {
      const fromFile = await readFile(pidfile, 'utf8').then((t) => Number(t.trim()), () => 0)
      for (const pid of new Set([known, fromFile])) await this.kill({ pid, pidfile }).catch((e) => errors.push(e))
    }
    this.pidfiles.clear()
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true })
    if (errors.length) throw errors[0]
  }

  private async ours(pid: number, pidfile: string): Promise<boolean> {
    if (!Number.isInteger(pid) || pid <= 1) return false
    try {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
      return argv.includes(pidfile)
    } catch {
      return false
    }
  }
}
