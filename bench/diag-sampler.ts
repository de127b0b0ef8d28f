// The sampler alone: CPU time of one Sampler.sample() with --vms VMs, in this process, without
// QEMU (every VM is this process, read from /proc as a QEMU would be; QMP query-blockstats
// answered at once by a stub, so QEMU's own share of a query is not counted). Tells the sampler's
// share of the LabVirt process's CPU from the reconcile loop's and Node's.
//
//   node bench/run.mjs diag-sampler [--vms 100] [--samples 50]
import { fmt, option, row, runBench, stats, tempDir } from './lib'

const VMS = option('vms', 100)
const SAMPLES = option('samples', 50)

runBench(async () => {
  const { Sampler, VM_SERIES } = await import('#server/resources/sampler')
  const { History } = await import('#server/resources/ring')
  const dataDir = await tempDir('lvb-')
  const published: unknown[] = []
  const ctx = {
    config: { hostId: 'bench', dataDir, sampleIntervalMs: 5000 },
    store: { hosts: { upsert: async (_id: string, change: () => unknown) => void published.push(change()) } },
  }
  const blockstats = [{ device: '', qdev: 'virtio0', stats: { rd_bytes: 1, wr_bytes: 1, rd_operations: 1, wr_operations: 1 } }]
  const qmp = { executeRaw: async () => structuredClone(blockstats) }
  const vms = Array.from({ length: VMS }, (_, i) => ({ id: `vm-${i + 1}`, pid: process.pid }))
  const sampler = new Sampler(ctx as never, { observe: async () => vms, monitor: async () => qmp as never })
  const cpu: number[] = []
  const wall: number[] = []
  let t = Date.now()
  for (let i = 0; i < SAMPLES; i++) {
    const c0 = process.cpuUsage()
    const w0 = performance.now()
    await sampler.sample((t += 5000))
    wall.push(performance.now() - w0)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000)
  }
  console.log(row('wall per sample', wall))
  console.log(row('CPU per sample', cpu))
  const median = stats(cpu).median
  console.log(`${VMS} VMs: ${fmt(median, 2)} ms CPU per sample -> ${fmt((median / 5000) * 100, 3)} % of one core at one sample per 5 s`)
  // The rings are typed arrays made full size with each VM: a Float64 time and Float32 figures per sample.
  const perVm = new History(VM_SERIES, 5000).capacity * (8 + 4 * VM_SERIES.length)
  console.log(`history: ${fmt(perVm / 1024)} KiB per VM, ${fmt((perVm * VMS) / 2 ** 20)} MiB for ${VMS} VMs, whatever the uptime`)
})
