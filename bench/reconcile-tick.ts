// Reconcile tick with 50 VMs running: wall and CPU time of one steady-state pass.
//
// The built server (reconcile off) creates a 16 MiB blank image, a 64 MiB profile and a lab of --vms
// seats through the API and stops; this process then opens the same data dir and drives the
// server's own Reconciler (server/reconcile, bundled from this source tree) directly: its first
// ticks start the VMs; after a 10 s settle, one unmeasured tick, then --ticks measured ticks, --gap
// ms apart. Each tick: wall (performance.now), the tick's own summary.ms, and CPU time
// of this whole process (process.cpuUsage delta, user + system, every thread). Then the tick's parts
// are timed on their own, to show where the time goes.
//
//   node bench/run.mjs reconcile-tick [--vms 50] [--ticks 30] [--gap 500] [--profile]
import { join } from 'node:path'
import { Api, MachineLoad, flag, fmt, option, row, runBench, saveResult, sleep, startServer, stats, tempDir, onCleanup, killQemusUnder, processesNaming } from './lib'

const VMS = option('vms', 50)
const TICKS = option('ticks', 30)
const GAP_MS = option('gap', 500)

/** Top functions of a V8 CPU profile, by self and inclusive time (ms), idle and program excluded. */
function summarize(p: { nodes: any[]; samples: number[]; timeDeltas: number[] }, top = 14) {
  const nodes = new Map<number, any>(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const name = (n: any) => {
    const f = n.callFrame
    const file = (f.url || '').split('/').pop()
    return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`
  }
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  let sampled = 0
  p.samples.forEach((id, i) => {
    const ms = (p.timeDeltas[i] ?? 0) / 1000
    const n = nodes.get(id)
    if (!n || n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(program)') return
    sampled += ms
    self.set(name(n), (self.get(name(n)) ?? 0) + ms)
    const seen = new Set<string>()
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const k = name(nodes.get(x))
      if (seen.has(k) || k === '(root)') continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + ms)
    }
  })
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
  return { self: sorted(self), inclusive: sorted(incl), sampledMs: sampled }
}

/** Wall and CPU ms of `fn`. */
async function measure<T>(fn: () => Promise<T>): Promise<{ wall: number; cpu: number; value: T }> {
  const c0 = process.cpuUsage()
  const w0 = performance.now()
  const value = await fn()
  const wall = performance.now() - w0
  const c = process.cpuUsage(c0)
  return { wall, cpu: (c.user + c.system) / 1000, value }
}

runBench(async () => {
  const dataDir = await tempDir('lvb-')
  const runDir = join(dataDir, 'run')

  // 1. The built server (reconcile off) creates the records through the API, then stops.
  const server = await startServer(dataDir, { LABVIRT_RECONCILE: 'off' })
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('tick')
  await api.must('POST', '/api/labs', { name: 'tick', size: VMS, profiles: [profile.id] })
  await server.stop()

  // 2. The server's own Reconciler (this source tree, so the argv it expects is the one it starts
  // with), in this process, on the same data dir: its first ticks start the VMs.
  process.env.LABVIRT_DATA_DIR = dataDir
  process.env.LABVIRT_ACCEL = 'tcg'
  const { readConfig } = await import('#server/config')
  const { openKv, repositories } = await import('#storage')
  const { Reconciler } = await import('#server/reconcile/index')
  const config = readConfig()
  const kv = await openKv({ url: undefined, dir: config.dataDir })
  const store = repositories(kv)
  const r = new Reconciler({ config, store })
  onCleanup(async () => {
    await r.stop()
    await kv.close()
  })
  const t0 = performance.now()
  for (;;) {
    const s = await r.tick()
    if (s.running === VMS && !s.started.length && !s.stopping.length && !s.failed.length) break
    if (s.failed.length) throw new Error(`VMs failed to start: ${s.failed.join(' ')}`)
    if (performance.now() - t0 > 300_000) throw new Error(`not all running: ${JSON.stringify(s)}`)
    await sleep(200)
  }
  const seats = (await store.vms.list()).filter((v) => v.lab === 'tick')
  console.log(`${VMS} VMs running after ${fmt((performance.now() - t0) / 1000)} s`)
  // Let the guests' firmware settle (TCG boot of the blank disk) before measuring.
  await sleep(10_000)

  const load = new MachineLoad()
  const adopt = await measure(() => r.tick())
  const s0 = adopt.value
  console.log(`first tick after the settle: wall ${fmt(adopt.wall)} ms, cpu ${fmt(adopt.cpu)} ms, summary ${JSON.stringify({ ...s0, ms: +s0.ms.toFixed(1) })}`)
  if (s0.running !== VMS || s0.started.length || s0.stopping.length || s0.failed.length) throw new Error(`not a steady state: ${JSON.stringify(s0)}`)
  await sleep(GAP_MS)

  const revisions = async () => (await store.vms.list()).reduce((n, v) => n + v.revision, 0)
  const rev0 = await revisions()
  const wall: number[] = []
  const cpu: number[] = []
  const own: number[] = []
  for (let i = 0; i < TICKS; i++) {
    const m = await measure(() => r.tick())
    if (m.value.running !== VMS || m.value.started.length || m.value.stopping.length) throw new Error(`tick ${i} changed something: ${JSON.stringify(m.value)}`)
    wall.push(m.wall)
    cpu.push(m.cpu)
    own.push(m.value.ms)
    await sleep(GAP_MS)
  }

  const statusWrites = (await revisions()) - rev0

  // 3. The tick's parts, each on its own (same gap), to see where the time goes.
  const parts: Record<string, { wall: number[]; cpu: number[] }> = {}
  const part = async (name: string, fn: () => Promise<unknown>) => {
    parts[name] ??= { wall: [], cpu: [] }
    const m = await measure(fn)
    parts[name]!.wall.push(m.wall)
    parts[name]!.cpu.push(m.cpu)
  }
  const ids = seats.map((s) => s.id)
  for (let i = 0; i < TICKS; i++) {
    await part('desired(): store model + argv for every VM', () => r.desired())
    await part('observe(): pidfiles + /proc for every VM', () => r.observe())
    await part('store: vms.list() + holds.list()', () => Promise.all([store.vms.list(), store.holds.list()]))
    await part('QMP query-status on every VM (monitors)', () => Promise.all(ids.map((id) => r.monitor(id).then((m) => m?.execute('query-status', undefined, { timeoutMs: 1000 })))))
    await sleep(GAP_MS)
  }
  const machine = load.report()

  // 4. Optional: the ticks under V8's CPU profiler, summarized by function (self and inclusive).
  let cpuProfile: { self: [string, number][]; inclusive: [string, number][]; sampledMs: number } | undefined
  if (flag('profile')) {
    const { Session } = await import('node:inspector/promises')
    const session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 200 })
    await session.post('Profiler.start')
    for (let i = 0; i < TICKS; i++) await r.tick()
    const { profile: p } = (await session.post('Profiler.stop')) as any
    session.disconnect()
    cpuProfile = summarize(p)
  }

  const qemuLeft = processesNaming(runDir).filter((p) => p.argv[0]?.includes('qemu')).length
  console.log()
  console.log(`${VMS} idle VMs (64 MiB, blank 16 MiB disk, TCG), ${TICKS} ticks ${GAP_MS} ms apart, file store`)
  console.log(row('tick wall (performance.now around tick())', wall))
  console.log(row("tick wall (the tick's own summary.ms)", own))
  console.log(row('tick CPU (process.cpuUsage delta, user+system)', cpu))
  for (const [name, p] of Object.entries(parts)) {
    console.log(row(`  part wall: ${name}`, p.wall))
    console.log(row(`  part CPU:  ${name}`, p.cpu))
  }
  if (cpuProfile) {
    console.log(`CPU profile of ${TICKS} more ticks (${fmt(cpuProfile.sampledMs)} ms sampled, idle excluded), ms per tick:`)
    console.log('  self:      ' + cpuProfile.self.map(([k, v]) => `${k} ${fmt(v / TICKS)}`).join('; '))
    console.log('  inclusive: ' + cpuProfile.inclusive.map(([k, v]) => `${k} ${fmt(v / TICKS)}`).join('; '))
  }
  console.log(`status records written during the measured ticks: ${statusWrites} (0 = steady state, nothing rewritten)`)
  const cpuMed = stats(cpu).median
  console.log(`target: tick CPU < 50 ms: median ${fmt(cpuMed)} ms, p90 ${fmt(stats(cpu).p90)} ms -> ${stats(cpu).p90 < 50 ? 'MET (p90 too)' : cpuMed < 50 ? 'MET (median; p90 over)' : 'MISSED'}`)
  console.log(`VMs still running: ${qemuLeft}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  const file = await saveResult('reconcile-tick', {
    vms: VMS, ticks: TICKS, gapMs: GAP_MS, machine, statusWrites, profile: cpuProfile, firstTick: { wall: adopt.wall, cpu: adopt.cpu },
    ms: { wall, own, cpu, parts },
    stats: { wall: stats(wall), own: stats(own), cpu: stats(cpu), parts: Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, { wall: stats(p.wall), cpu: stats(p.cpu) }])) },
  })
  console.log(`saved ${file}`)
  await r.stop()
  await kv.close()
  await killQemusUnder(runDir)
})
