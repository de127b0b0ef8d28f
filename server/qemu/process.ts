import { existsSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { readProcFile } from '../proc'
import { vmPaths } from './paths'

/**
 * Process identity as Proxmox's qemu-server does it: a VM runs when the pid in its pidfile is a
 * live process whose command line names that same pidfile. The pid alone is not enough: pids are
 * reused, and `kill -0` succeeds on a zombie (which a QEMU that lost its parent can stay for a while).
 * The run dir is local and its files tiny, so they are read in place like /proc (server/proc.ts):
 * each fs/promises call is a trip through the thread pool that a start waits for.
 */

export interface ProcStat {
  pid: number
  /** The executable name, up to 15 bytes; may hold spaces and parentheses. */
  comm: string
  /** R running, S sleeping, D disk sleep, Z zombie, T stopped, t traced, X dead, I idle, ... */
  state: string
  ppid: number
  /** Clock ticks after boot when the process started: with the pid, a unique process identity. */
  startTicks: number
}

/**
 * Parses a `/proc/<pid>/stat` line. `comm` sits in parentheses and can itself contain `) ` and
 * spaces, so the fields after it are found from the LAST `)`.
 */
export function parseProcStat(line: string): ProcStat | null {
  const open = line.indexOf('(')
  const close = line.lastIndexOf(')')
  if (open < 0 || close < open) return null
  const pid = Number(line.slice(0, open).trim())
  // Fields after comm, numbered from 3 (state) as in proc(5).
  const rest = line.slice(close + 1).trim().split(/\s+/)
  const state = rest[0]
  const ppid = Number(rest[1])
  const startTicks = Number(rest[19])
  if (!Number.isInteger(pid) || pid <= 0 || !state || !/^[A-Za-z]$/.test(state) || !Number.isInteger(ppid) || !Number.isFinite(startTicks)) return null
  return { pid, comm: line.slice(open + 1, close), state, ppid, startTicks }
}

export interface ProcOptions {
  /** Where proc is mounted; tests point it at a fake tree. */
  procRoot?: string
}

const isMissing = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ESRCH'
}

/** The pid in a pidfile, or null when there is no file or it holds no pid. */
export async function readPidfile(pidfile: string): Promise<number | null> {
  let text: string
  try {
    text = readFileSync(pidfile, 'utf8')
  } catch (e) {
    if (isMissing(e)) return null
    throw e
  }
  const t = text.trim()
  if (!/^\d{1,10}$/.test(t)) return null
  const pid = Number(t)
  return pid > 0 && pid <= 0x3fffffff ? pid : null
}

export async function readProcStat(pid: number, options: ProcOptions = {}): Promise<ProcStat | null> {
  try {
    return parseProcStat(await readProcFile(join(options.procRoot ?? '/proc', String(pid), 'stat')))
  } catch (e) {
    if (isMissing(e)) return null
    throw e
  }
}

/** A process's argv from `/proc/<pid>/cmdline` (NUL-separated), or null when it is gone. */
export async function readCmdline(pid: number, options: ProcOptions = {}): Promise<string[] | null> {
  try {
    const raw = await readProcFile(join(options.procRoot ?? '/proc', String(pid), 'cmdline'))
    // NUL-terminated, so the last element is empty; a zombie's cmdline is empty altogether.
    return raw ? raw.replace(/\0$/, '').split('\0') : []
  } catch (e) {
    if (isMissing(e)) return null
    throw e
  }
}

/** True when argv passes exactly `pidfile` to `-pidfile` (or `--pidfile`, which QEMU also accepts). */
export function cmdlineHasPidfile(argv: string[], pidfile: string): boolean {
  for (let i = 0; i < argv.length - 1; i++) {
    if ((argv[i] === '-pidfile' || argv[i] === '--pidfile') && argv[i + 1] === pidfile) return true
  }
  return false
}

export interface VmProcess {
  pid: number
  /** When QEMU wrote its pidfile: the VM's start time, as LabVirt reports it. */
  startedAt: Date
  stat: ProcStat
  /** Its command line, as read to confirm its identity (callers need not read it again). */
  argv: string[]
}

/** Neither a zombie nor dead (a QEMU that lost its parent can stay a zombie for a while). */
const alive = (stat: ProcStat) => stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x'

/**
 * The QEMU process behind `pidfile`, or null when the VM is not running: no pidfile, no such pid,
 * a zombie or dead process, or a live process that is not this VM (a reused pid).
 */
export async function probeVm(pidfile: string, options: ProcOptions = {}): Promise<VmProcess | null> {
  const path = resolve(pidfile)
  const pid = await readPidfile(path)
  if (pid === null) return null
  const proc = await readProcStat(pid, options)
  if (!proc || !alive(proc)) return null
  const argv = await readCmdline(pid, options)
  if (!argv || !cmdlineHasPidfile(argv, path)) return null
  let startedAt: Date
  try {
    startedAt = statSync(path).mtime
  } catch (e) {
    // QEMU removed the pidfile between our reads: it is exiting.
    if (isMissing(e)) return null
    throw e
  }
  return { pid, startedAt, stat: proc, argv }
}

/**
 * Whether the process `probeVm` found is still the one its pidfile names: the same pid, started at
 * the same time (together they identify a process), and not a zombie. Two small reads, where a
 * probe takes four.
 */
export async function sameProcess(pidfile: string, known: { pid: number; startTicks: number }, options: ProcOptions = {}): Promise<boolean> {
  if ((await readPidfile(resolve(pidfile))) !== known.pid) return false
  const stat = await readProcStat(known.pid, options)
  return !!stat && stat.startTicks === known.startTicks && alive(stat)
}

/** Whether the VM whose pidfile this is runs (see `probeVm`). */
export async function isRunning(pidfile: string, options: ProcOptions = {}): Promise<boolean> {
  return (await probeVm(pidfile, options)) !== null
}

/**
 * Removes what a dead VM left in the run dir: its pidfile, its QMP sockets (a failed start can leave
 * them) and its VNC socket (QEMU never removes that one). Does nothing while the VM runs. Returns the
 * paths it removed.
 */
export async function cleanupStale(runDir: string, name: string, options: ProcOptions = {}): Promise<string[]> {
  const paths = vmPaths(runDir, name)
  // Most of these are not there (a VM stopped cleanly): asked first, since a failed read or
  // unlink costs an exception each, 0.2 ms of every start in all (measured).
  if (existsSync(paths.pidfile) && (await isRunning(paths.pidfile, options))) return []
  const removed: string[] = []
  for (const path of [paths.qmp, paths.toolQmp, paths.vnc, paths.pidfile]) {
    if (!existsSync(path)) continue
    try {
      rmSync(path)
      removed.push(path)
    } catch (e) {
      if (!isMissing(e)) throw e
    }
  }
  return removed
}
