import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { setPriority } from 'node:os'

let autogroups: boolean | undefined

/**
 * Whether the kernel weighs CPU time by session first (autogroups, Debian's default). Then a
 * process's nice counts only against others of its session, and `-daemonize` gives every QEMU a
 * session of its own: what puts a booting guest behind the server is its session's nice.
 */
export function autogroupsOn(): boolean {
  if (autogroups === undefined) {
    try {
      autogroups = readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1'
    } catch {
      autogroups = false
    }
  }
  return autogroups
}

/**
 * Puts a started QEMU at `nice`: its session's (autogroup) nice, and each of its threads' (what
 * `top` shows; the threads it starts later take the main thread's). Where permitted: a process
 * may always lower its own kind's priority, root any.
 */
export function lowerPriority(pid: number, nice: number): void {
  if (!nice) return
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice))
  } catch {
    // no autogroups, or not ours to change
  }
  const renice = (tid: number) => {
    try {
      setPriority(tid, nice)
    } catch {
      // gone, or not ours to change
    }
  }
  // The main thread first: a thread it starts meanwhile is born at the new nice.
  renice(pid)
  let threads: string[] = []
  try {
    threads = readdirSync(`/proc/${pid}/task`)
  } catch {
    // gone
  }
  for (const t of threads) if (Number(t) !== pid) renice(Number(t))
}
