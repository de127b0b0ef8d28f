import { freemem, loadavg, totalmem } from 'node:os'
import { VM_STATES } from '#schemas/vms'
import { Gauge, Registry } from 'prom-client'
import type { Context } from '../context'
import type { Reconciler } from '../reconcile/index'
import type { Sampler } from '../resources/index'
import { ConflictError, ForbiddenError, UnavailableError } from '../errors'
import { listVms } from '../vms/index'
import { diskFree } from '../images/place'
import { registry, type TerminalOutcome, terminalRequests } from './registry'

export { registry } from './registry'

/** Domain figures, computed at each scrape: a registry of their own, merged with the process one. */
async function domainRegistry(ctx: Context, reconciler: Reconciler, sampler: Sampler): Promise<Registry> {
  const r = new Registry()
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [r] })
  const vms = gauge('labvirt_vms', 'VMs by state per lab (lab="" for VMs outside a lab)', ['lab', 'state'])
  const ready = gauge('labvirt_seats_ready', 'Seats ready for a terminal: running, and their service answers the probe', ['lab'])
  const connected = gauge('labvirt_seats_connected', 'Seats a terminal is connected to', ['lab'])
  const size = gauge('labvirt_lab_size', 'Seats a lab is set to run', ['lab'])
  // Per VM: the sampler's last counters (LABVIRT_SAMPLE_INTERVAL), the same figures GET /api/vms/:id/stats shows.
  const cpu = gauge('labvirt_vm_cpu_seconds_total', 'CPU time the VM\'s QEMU process used (user + system)', ['vm'])
  const rss = gauge('labvirt_vm_rss_bytes', 'Resident memory of the VM\'s QEMU process', ['vm'])
  const diskRead = gauge('labvirt_vm_disk_read_bytes_total', 'Bytes the VM read from its disks', ['vm'])
  const diskWritten = gauge('labvirt_vm_disk_written_bytes_total', 'Bytes the VM wrote to its disks', ['vm'])
  const diskReads = gauge('labvirt_vm_disk_reads_total', 'Read operations on the VM\'s disks', ['vm'])
  const diskWrites = gauge('labvirt_vm_disk_writes_total', 'Write operations on the VM\'s disks', ['vm'])
  const netRx = gauge('labvirt_vm_network_receive_bytes_total', 'Bytes the VM received through its tap (tap mode only)', ['vm'])
  const netTx = gauge('labvirt_vm_network_transmit_bytes_total', 'Bytes the VM sent through its tap (tap mode only)', ['vm'])

  const [list, labs] = await Promise.all([listVms(ctx, reconciler), ctx.store.labs.list()])
  for (const lab of labs) {
    size.set({ lab: lab.id }, lab.size)
    ready.set({ lab: lab.id }, 0)
    connected.set({ lab: lab.id }, 0)
    for (const state of VM_STATES) vms.set({ lab: lab.id, state }, 0)
  }
  for (const vm of list) {
    const lab = vm.lab ?? ''
    vms.inc({ lab, state: vm.state })
    if (vm.kind === 'seat' && vm.lab) {
      if (vm.ready) ready.inc({ lab })
      if (vm.connected) connected.inc({ lab })
    }
    const sample = vm.host === ctx.config.hostId ? sampler.vmSample(vm.id) : undefined
    if (!sample) continue
    const labels = { vm: vm.id }
    cpu.set(labels, sample.cpuSeconds)
    rss.set(labels, sample.rssBytes)
    if (sample.disk) {
      diskRead.set(labels, sample.disk.readBytes)
      diskWritten.set(labels, sample.disk.writeBytes)
      diskReads.set(labels, sample.disk.readOps)
      diskWrites.set(labels, sample.disk.writeOps)
    }
    if (sample.net) {
      netRx.set(labels, sample.net.rxBytes)
      netTx.set(labels, sample.net.txBytes)
    }
  }

  const load = loadavg()
  gauge('labvirt_host_load1', 'The host\'s 1-minute load average').set(load[0]!)
  gauge('labvirt_host_load5', 'The host\'s 5-minute load average').set(load[1]!)
  gauge('labvirt_host_load15', 'The host\'s 15-minute load average').set(load[2]!)
  const busy = sampler.latestHost?.cpuPercent
  if (busy !== undefined && busy !== null) gauge('labvirt_host_cpu_busy_percent', 'Busy share of the host\'s CPUs at the last sample, 0-100').set(busy)
  gauge('labvirt_host_memory_total_bytes', 'The host\'s memory').set(totalmem())
  gauge('labvirt_host_memory_free_bytes', 'The host\'s free memory').set(freemem())
  const free = await diskFree(ctx.config.dataDir).catch(() => undefined)
  if (free !== undefined) gauge('labvirt_data_disk_free_bytes', 'Space free to LabVirt in its data dir').set(free)
  return r
}

/** The Prometheus text of one scrape. */
export async function scrape(ctx: Context, reconciler: Reconciler, sampler: Sampler): Promise<{ contentType: string; body: string }> {
  const merged = Registry.merge([registry, await domainRegistry(ctx, reconciler, sampler)])
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
