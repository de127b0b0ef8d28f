import { readFile } from 'node:fs/promises'
import { freemem, loadavg, totalmem } from 'node:os'
import { VM_STATES } from '#schemas/vms'
import { Gauge, Registry } from 'prom-client'
import type { Context } from '../context'
import type { Reconciler } from '../reconcile/index'
import { ConflictError, ForbiddenError, UnavailableError } from '../errors'
import { listVms } from '../vms/index'
import { diskFree } from '../images/place'
import { registry, type TerminalOutcome, terminalRequests } from './registry'

export { registry } from './registry'

// Linux reports utime/stime in clock ticks; USER_HZ is 100 on every architecture LabVirt runs on.
const CLK_TCK = 100

/** utime + stime (seconds) and VmRSS (bytes) of a process, or undefined once it is gone. */
export async function processFigures(pid: number): Promise<{ cpuSeconds: number; rssBytes: number } | undefined> {
  try {
    const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')])
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return { cpuSeconds, rssBytes: rss ? Number(rss[1]) * 1024 : 0 }
  } catch {
    return undefined
  }
}

/** Domain figures, computed at each scrape: a registry of their own, merged with the process one. */
async function domainRegistry(ctx: Context, reconciler: Reconciler): Promise<Registry> {
  const r = new Registry()
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [r] })
  const vms = gauge('labvirt_vms', 'VMs by state per lab (lab="" for VMs outside a lab)', ['lab', 'state'])
  const ready = gauge('labvirt_seats_ready', 'Seats ready for a terminal: running, and their service answers the probe', ['lab'])
  const connected = gauge('labvirt_seats_connected', 'Seats a terminal is connected to', ['lab'])
  const size = gauge('labvirt_lab_size', 'Seats a lab is set to run', ['lab'])
  const cpu = gauge('labvirt_vm_cpu_seconds_total', 'CPU time the VM\'s QEMU process used (user + system)', ['vm'])
  const rss = gauge('labvirt_vm_rss_bytes', 'Resident memory of the VM\'s QEMU process', ['vm'])

  const [list, labs] = await Promise.all([listVms(ctx, reconciler), ctx.store.labs.list()])
  for (const lab of labs) {
    size.set({ lab: lab.id }, lab.size)
    ready.set({ lab: lab.id }, 0)
    connected.set({ lab: lab.id }, 0)
    for (const state of VM_STATES) vms.set({ lab: lab.id, state }, 0)
  }
  await Promise.all(list.map(async (vm) => {
    const lab = vm.lab ?? ''
    vms.inc({ lab, state: vm.state })
    if (vm.kind === 'seat' && vm.lab) {
      if (vm.ready) ready.inc({ lab })
      if (vm.connected) connected.inc({ lab })
    }
    if (vm.state === 'running' && vm.pid && vm.host === ctx.config.hostId) {
      const figures = await processFigures(vm.pid)
      if (figures) {
        cpu.set({ vm: vm.id }, figures.cpuSeconds)
        rss.set({ vm: vm.id }, figures.rssBytes)
      }
    }
  }))

  gauge('labvirt_host_load1', 'The host\'s 1-minute load average').set(loadavg()[0]!)
  gauge('labvirt_host_memory_total_bytes', 'The host\'s memory').set(totalmem())
  gauge('labvirt_host_memory_free_bytes', 'The host\'s free memory').set(freemem())
  const free = await diskFree(ctx.config.dataDir).catch(() => undefined)
  if (free !== undefined) gauge('labvirt_data_disk_free_bytes', 'Space free to LabVirt in its data dir').set(free)
  return r
}

/** The Prometheus text of one scrape. */
export async function scrape(ctx: Context, reconciler: Reconciler): Promise<{ contentType: string; body: string }> {
  const merged = Registry.merge([registry, await domainRegistry(ctx, reconciler)])
  return { contentType: merged.contentType, body: await merged.metrics() }
}

export function countTerminalRequest(outcome: TerminalOutcome) {
  terminalRequests.inc({ outcome })
}

/** How a refused terminal request counts: unknown terminal (noted pending), no seat yet, or else. */
export function terminalOutcome(err: unknown): TerminalOutcome {
  if (err instanceof ForbiddenError) return 'pending'
  if (err instanceof UnavailableError || err instanceof ConflictError) return 'unavailable'
  return 'refused'
}
