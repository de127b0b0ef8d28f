import { readFileSync } from 'node:fs'

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
