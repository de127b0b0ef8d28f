import { readFileSync } from 'node:fs'
import { readdir, writeFile } from 'node:fs/promises'
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
export async function lowerPriority(pid: number, nice: number): Promise<void> {
  if (!nice) return
  await writeFile(`/proc/${pid}/autogroup`, String(nice)).catch(() => {})
  const renice = (tid: number) => {
    try {
      setPriority(tid, nice)
    } catch {
      // gone, or not ours to change
    }
  }
  // The main thread first: a thread it starts meanwhile is born at the new nice.
  renice(pid)
  const threads = await readdir(`/proc/${pid}/task`).catch(() => [])
  for (const t of threads) if (Number(t) !== pid) renice(Number(t))
}
