import { loadavg } from 'node:os'
import type { QmpClient } from '../qemu/qmp'
import { readProcFile } from '../proc'

// Linux reports utime/stime in clock ticks; USER_HZ is 100 on every architecture LabVirt runs on.
const CLK_TCK = 100

/** utime + stime (seconds) and VmRSS (bytes) of a process, or undefined once it is gone. */
export async function processFigures(pid: number): Promise<{ cpuSeconds: number; rssBytes: number } | undefined> {
  try {
    const [stat, status] = await Promise.all([readProcFile(`/proc/${pid}/stat`), readProcFile(`/proc/${pid}/status`)])
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return { cpuSeconds, rssBytes: rss ? Number(rss[1]) * 1024 : 0 }
  } catch {
    return undefined
  }
}

export interface DiskCounters {
  readBytes: number
  writeBytes: number
  readOps: number
  writeOps: number
}

interface BlockStats {
  stats: { rd_bytes: number; wr_bytes: number; rd_operations: number; wr_operations: number }
}

/** The VM's disk I/O since it started, summed over its drives (QMP query-blockstats). */
export async function diskCounters(qmp: QmpClient): Promise<DiskCounters | undefined> {
  const all = (await qmp.executeRaw('query-blockstats', undefined, { timeoutMs: 1000 }).catch(() => undefined)) as BlockStats[] | undefined
  if (!Array.isArray(all)) return undefined
  const sum = { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 }
  for (const { stats } of all) {
    sum.readBytes += stats.rd_bytes
    sum.writeBytes += stats.wr_bytes
    sum.readOps += stats.rd_operations
    sum.writeOps += stats.wr_operations
  }
  return sum
}

export interface NetCounters {
  rxBytes: number
  txBytes: number
}

/**
 * A tap's counters, as the guest sees them: what the host sends into the tap (its tx) the guest
 * receives. Undefined when the interface is gone.
 */
export async function tapCounters(ifname: string): Promise<NetCounters | undefined> {
  const read = (name: string) => readProcFile(`/sys/class/net/${ifname}/statistics/${name}`).then(Number)
  try {
    const [tx, rx] = await Promise.all([read('tx_bytes'), read('rx_bytes')])
    return { rxBytes: tx, txBytes: rx }
  } catch {
    return undefined
  }
}

/** Busy and total jiffies of all CPUs together (/proc/stat): busy is everything but idle and iowait. */
export async function hostCpuTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readProcFile('/proc/stat')).split('\n', 1)[0]!
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = n.reduce((a, b) => a + b, 0)
  return { busy: total - n[3]! - n[4]!, total }
}

/** Memory in use (MemTotal - MemAvailable) and in all, in bytes. */
export async function hostMemory(): Promise<{ used: number; total: number }> {
  const text = await readProcFile('/proc/meminfo')
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024
  const total = kb('MemTotal')
  return { used: total - kb('MemAvailable'), total }
}

/** Bytes through the host's interfaces but loopback (/proc/net/dev), since boot. */
export async function hostNetCounters(): Promise<NetCounters> {
  const lines = (await readProcFile('/proc/net/dev')).split('\n').slice(2)
  const sum = { rxBytes: 0, txBytes: 0 }
  for (const line of lines) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line)
    if (!m || m[1] === 'lo') continue
    const f = m[2]!.trim().split(/\s+/).map(Number)
    sum.rxBytes += f[0]!
    sum.txBytes += f[8]!
  }
  return sum
}

export const hostLoad = () => loadavg() as [number, number, number]
