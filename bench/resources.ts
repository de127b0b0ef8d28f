// Resource sampling at steady state: CPU (% of one core) and RSS of the LabVirt process with
// --vms seats running, the reconcile loop and the sampler both at their default 5 s.
//
// The built server creates a 16 MiB blank image, a 64 MiB profile and a lab of --vms seats through
// the API and starts them; once all run and --settle seconds have passed (the guests' firmware
// quiet), the server process's CPU time (all its threads, /proc/<pid>/task/*/schedstat) and its
// RSS (/proc/<pid>/status, every second) are read over --seconds. A run counts only if the sampler
// saw every VM (GET /api/hosts) and a seat has a CPU series (GET /api/vms/:id/stats).
//
//   node bench/run.mjs resources [--vms 100] [--seconds 60] [--settle 20] [--interval 5] [--no-sampling]
//
// --no-sampling: the same with LABVIRT_SAMPLE_INTERVAL=off, to tell the sampler's share from the rest.
import { readFileSync } from 'node:fs'
import { Api, MachineLoad, flag, fmt, option, runBench, saveResult, schedOf, sleep, startServer, stats, tempDir } from './lib'

const VMS = option('vms', 100)
const SECONDS = option('seconds', 60)
const SETTLE_S = option('settle', 20)
const INTERVAL_S = option('interval', 5)
const SAMPLING = !flag('no-sampling')
const TARGET_CPU = 5
const TARGET_RSS_MB = 150

const rssMb = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

runBench(async () => {
  const dataDir = await tempDir('lvb-')
  const server = await startServer(dataDir, { LABVIRT_SAMPLE_INTERVAL: SAMPLING ? String(INTERVAL_S) : 'off', LABVIRT_RECONCILE_INTERVAL: String(INTERVAL_S) })
  const pid = server.proc.pid!
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('res')
  await api.must('POST', '/api/labs', { name: 'res', size: VMS, max: VMS, profiles: [profile.id] })

  const t0 = performance.now()
  for (;;) {
    const vms = await api.must<{ id: string; lab?: string; state: string; error?: { msgid: string; params?: unknown } }[]>('GET', '/api/vms')
    const running = vms.filter((v) => v.lab === 'res' && v.state === 'running').length
    if (running === VMS) break
    const failed = vms.find((v) => v.lab === 'res' && v.state === 'failed')
    if (failed) throw new Error(`seat ${failed.id} failed to start: ${failed.error?.msgid} ${JSON.stringify(failed.error?.params ?? {})}`)
    if (performance.now() - t0 > 600_000) throw new Error(`only ${running} of ${VMS} running after 10 min`)
    await sleep(1000)
  }
  console.log(`${VMS} VMs running after ${fmt((performance.now() - t0) / 1000)} s; settling ${SETTLE_S} s`)
  await sleep(SETTLE_S * 1000)

  const load = new MachineLoad()
  const rss: number[] = []
  const cpu0 = schedOf(pid).cpuMs
  const w0 = performance.now()
  while (performance.now() - w0 < SECONDS * 1000) {
    rss.push(rssMb(pid))
    await sleep(1000)
  }
  const cpuPercent = ((schedOf(pid).cpuMs - cpu0) / (performance.now() - w0)) * 100
  const machine = load.report()

  if (SAMPLING) await sampledEveryVm(api)
  const r = stats(rss)
  console.log(`LabVirt process over ${SECONDS} s with ${VMS} VMs, reconcile every ${INTERVAL_S} s, ${SAMPLING ? `sampling every ${INTERVAL_S} s` : 'no sampling'}:`)
  console.log(`  CPU ${fmt(cpuPercent, 2)} % of one core (target < ${TARGET_CPU} %)`)
  console.log(`  RSS median ${fmt(r.median)} MB, max ${fmt(r.max)} MB (target < ${TARGET_RSS_MB} MB)`)
  console.log(`  machine: load ${machine.loadavgStart.join(' ')} -> ${machine.loadavgEnd.join(' ')}, CPU busy ${machine.cpuBusyPercent} %`)
  const file = await saveResult('resources', { vms: VMS, seconds: SECONDS, intervalS: INTERVAL_S, sampling: SAMPLING, cpuPercent, rssMb: rss, machine })
  console.log(`saved ${file}`)
})

/** The figures are real only if the sampler saw every VM and a seat has its series. */
async function sampledEveryVm(api: Api) {
  const hosts = await api.must<{ local: boolean; figures: { vms: number } | null }[]>('GET', '/api/hosts')
  const sampledVms = hosts.find((h) => h.local)?.figures?.vms
  const seat = await api.must<{ series: { cpu: (number | null)[] } }>('GET', '/api/vms/res-1/stats')
  if (sampledVms !== VMS || !seat.series.cpu.length) throw new Error(`the sampler did not see every VM: ${sampledVms} of ${VMS}, ${seat.series.cpu.length} CPU samples of res-1`)
}
