// Boot storm: every terminal of two 250-seat labs asks for its seat at the same moment, as at the
// start of a class.
//
// LabVirt: 500 concurrent `GET /api/terminal` (text/plain, one fresh connection each, as curl in
//   the launcher) from 500 registered terminals, each from its own loopback source address
//   (127.1.x.y), against the built server. Every seat is "running": the status records
//   `vms:<lab>-<n>` are written through the store layer while the server is stopped, and the server
//   runs with LABVIRT_RECONCILE=off (500 QEMU do not fit on this machine). So this measures the
//   answer path (identify, seat broker, command line), not QEMU.
// Bare: the same 500 requests from the same addresses to a bare h3 app (createApp + toNodeListener,
//   its own node process like the server) answering a fixed command line.
// Floor: the same 500 requests to a route of the same Nitro app answering the bare app's fixed line
//   (`GET /bench/floor`, in a build made with LABVIRT_BENCH_FLOOR=1): what any route costs before
//   its own work, so its ratio to bare h3 is as close as the terminal route can get. A normal build
//   has no such route: then `GET /api/health` (public; adds one store ping) stands in, said so.
// Interleaved (ABBA), same run. The first LabVirt storm (no seat assigned yet: the broker hands out
// all 500 seats) is reported on its own; the measured ones are terminals asking again (sticky seats).
//
//   node bench/run.mjs boot-storm [--reps 10] [--terminals 500] [--warmup 5]
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  Api, cleanup, fmt, interleaved, MachineLoad, option, onCleanup, paired, REPO, runBench, saveResult, schedOf, startServer, stats, tempDir, terminalAddress,
} from './lib'
import { openKv, repositories } from '#storage'

const REPS = option('reps', 10)
const TERMINALS = option('terminals', 500)
const WARMUP = option('warmup', 5)
const SEATS_PER_LAB = 250


interface Sample {
  ms: number
  status: number
  error?: string
}

/** One GET on a fresh connection from `localAddress`; never rejects (errors are samples). */
function get(url: URL, localAddress: string): Promise<Sample> {
  const t0 = performance.now()
  return new Promise((res) => {
    const req = request(url, { localAddress, agent: false, headers: { accept: 'text/plain' } }, (r) => {
      // An error's body says why (it is the message a launcher would show).
      let body = ''
      r.on('data', (d) => r.statusCode !== 200 && body.length < 200 && (body += d))
      r.on('end', () => res({ ms: performance.now() - t0, status: r.statusCode!, ...(r.statusCode !== 200 ? { error: `${r.statusCode} ${body.trim()}` } : {}) }))
      r.on('error', (e) => res({ ms: performance.now() - t0, status: 0, error: e.message }))
    })
    req.on('error', (e) => res({ ms: performance.now() - t0, status: 0, error: (e as NodeJS.ErrnoException).code ?? e.message }))
    req.end()
  })
}

interface Storm {
  samples: Sample[]
  wallMs: number
  cpuMs: number
  /** The bench's own CPU (the 500 clients), which shares the machine's cores with the server. */
  clientCpuMs: number
}

/** All terminals at once; wall time from the first request sent to the last answer read. */
async function storm(url: URL, pid: number): Promise<Storm> {
  const s0 = schedOf(pid)
  const c0 = schedOf(process.pid)
  const t0 = performance.now()
  const samples = await Promise.all(Array.from({ length: TERMINALS }, (_, i) => get(url, terminalAddress(i))))
  const wallMs = performance.now() - t0
  return { samples, wallMs, cpuMs: schedOf(pid).cpuMs - s0.cpuMs, clientCpuMs: schedOf(process.pid).cpuMs - c0.cpuMs }
}

const errorsOf = (s: Storm) => s.samples.filter((x) => x.status !== 200)

/** The bare h3 app, in its own node process; resolves with its URL once it listens. */
async function startBare(line: string) {
  const code = `
    import { createServer } from 'node:http'
    import { createApp, eventHandler, setResponseHeader, toNodeListener } from 'h3'
    const app = createApp()
    app.use('/api/terminal', eventHandler((event) => {
      setResponseHeader(event, 'content-type', 'text/plain; charset=utf-8')
      return ${JSON.stringify(line)}
    }))
    const server = createServer(toNodeListener(app)).listen(0, '127.0.0.1', () => console.log(server.address().port))`
  // cwd = the repo, so 'h3' resolves against its node_modules.
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] })
  onCleanup(async () => void proc.kill('SIGKILL'))
  const port = await new Promise<string>((res, rej) => {
    proc.stdout!.once('data', (d) => res(String(d).trim()))
    proc.once('exit', (c) => rej(new Error(`bare h3 server exited (${c})`)))
  })
  return { url: new URL(`http://127.0.0.1:${port}/api/terminal`), pid: proc.pid! }
}

runBench(async () => {
  const load = new MachineLoad()
  const dataDir = await tempDir('lvs-')
  const env = { LABVIRT_RECONCILE: 'off' }

  // 1. Records through the API: two labs of 250 seats, one client class, 500 terminals by address.
  const setup = await startServer(dataDir, env)
  const api = await new Api(setup.url).login()
  const profile = await api.tinyProfile('storm')
  const client = await api.must('POST', '/api/clients', { name: 'stormc', program: 'xfreerdp', args: ['/v:%HOST%:%PORT%', '/u:%USER%', '/f'] })
  const labs: { id: string; size: number }[] = []
  for (let i = 0; i * SEATS_PER_LAB < TERMINALS; i++) {
    const size = Math.min(SEATS_PER_LAB, TERMINALS - i * SEATS_PER_LAB)
    labs.push(await api.must('POST', '/api/labs', { name: `storm${i}`, size, profiles: [profile.id], client: client.id, network: { mode: 'user' } }))
  }
  const t0 = performance.now()
  for (let i = 0; i < TERMINALS; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, TERMINALS - i) }, (_, k) => {
      const n = i + k
      return api.must('POST', '/api/terminals', { name: `st${n}`, ip: terminalAddress(n), lab: labs[Math.floor(n / SEATS_PER_LAB)]!.id, params: { USER: `student${n}` } })
    }))
  }
  console.log(`${TERMINALS} terminals created in ${fmt((performance.now() - t0) / 1000)} s`)
  await setup.stop()

  // 2. Every seat running and ready, as the reconciler and the probe task would have written it (the server is stopped: the file
  //    store belongs to one process at a time).
  const kv = await openKv({ dir: dataDir })
  const store = repositories(kv)
  const startedAt = new Date().toISOString()
  for (const lab of labs) {
    for (let seat = 1; seat <= lab.size; seat++) {
      const id = `${lab.id}-${seat}`
      await store.vms.create(id, { id, kind: 'seat', lab: lab.id, seat, profile: profile.id, state: 'running', host: hostname(), startedAt, failures: 0 })
      // And ready, as the probe task would have written it: the broker gives only ready seats.
      await store.readiness.create(id, { startedAt, ready: true, readySince: startedAt })
    }
  }
  await kv.close()

  // 3. The server answering, and the bare app.
  const server = await startServer(dataDir, env)
  const labvirtUrl = new URL(`${server.url}/api/terminal`)
  const check = await get(labvirtUrl, terminalAddress(0))
  if (check.status !== 200) throw new Error(`GET /api/terminal from ${terminalAddress(0)}: ${check.status} ${check.error ?? ''}`)
  const bare = await startBare(`'xfreerdp' '/v:127.0.0.1:20000' '/u:student0' '/f'\n`)

  // The first storm hands out the seats; then --warmup storms of each side, not counted: each
  // process's JIT settles over its first storms (bare h3's first five took twice its later ones).
  const first = await storm(labvirtUrl, server.proc.pid!)
  const seatsGiven = first.samples.filter((s) => s.status === 200).length
  await sleep(1000)
  const floorUrl = (await get(new URL(`${server.url}/bench/floor`), terminalAddress(0))).status === 200 ? new URL(`${server.url}/bench/floor`) : new URL(`${server.url}/api/health`)
  for (let i = 0; i < WARMUP; i++) {
    for (const [url, pid] of [[labvirtUrl, server.proc.pid!], [floorUrl, server.proc.pid!], [bare.url, bare.pid]] as const) {
      await storm(url, pid)
      await sleep(300)
    }
  }

  const labvirt: Storm[] = []
  const floor: Storm[] = []
  const plain: Storm[] = []
  await interleaved(
    REPS,
    async () => {
      labvirt.push(await storm(labvirtUrl, server.proc.pid!))
      await sleep(1000)
      floor.push(await storm(floorUrl, server.proc.pid!))
    },
    async () => plain.push(await storm(bare.url, bare.pid)),
    1000,
  )
  const machine = load.report()

  const summarize = (runs: Storm[]) => {
    const ok = runs.flatMap((r) => r.samples.filter((s) => s.status === 200).map((s) => s.ms))
    const errors = runs.flatMap(errorsOf)
    const throughput = runs.map((r) => (TERMINALS / r.wallMs) * 1000)
    return {
      requests: runs.length * TERMINALS,
      errors: errors.length,
      errorKinds: Object.fromEntries([...new Set(errors.map((e) => e.error ?? String(e.status)))].map((k) => [k, errors.filter((e) => (e.error ?? String(e.status)) === k).length])),
      latency: stats(ok),
      throughput: stats(throughput),
      wallMs: stats(runs.map((r) => r.wallMs)),
      cpuMs: stats(runs.map((r) => r.cpuMs)),
      clientCpuMs: stats(runs.map((r) => r.clientCpuMs)),
    }
  }
  const L = summarize(labvirt)
  const B = summarize(plain)
  const H = summarize(floor)
  const F = summarize([first])
  const ratio = L.throughput.median / B.throughput.median
  const pair = paired(labvirt.map((r) => TERMINALS / r.wallMs), plain.map((r) => TERMINALS / r.wallMs))

  const show = (label: string, s: ReturnType<typeof summarize>) =>
    console.log(
      `${label.padEnd(34)} errors ${String(s.errors).padStart(4)}/${s.requests}  p50 ${fmt(s.latency.median).padStart(7)} ms  p99 ${fmt(s.latency.p99).padStart(7)} ms  ` +
        `throughput ${fmt(s.throughput.median, 0).padStart(6)} req/s (min ${fmt(s.throughput.min, 0)})  storm ${fmt(s.wallMs.median, 0)} ms  server CPU ${fmt(s.cpuMs.median, 0)} ms  client CPU ${fmt(s.clientCpuMs.median, 0)} ms`,
    )
  console.log()
  console.log(`${TERMINALS} concurrent GET /api/terminal, one connection each, ${REPS} storms per side (ABBA)`)
  show('LabVirt, first storm (assigns)', F)
  show('LabVirt, sticky seats', L)
  show(`LabVirt floor, GET ${floorUrl.pathname}`, H)
  show('bare h3, fixed line', B)
  if (F.errors || L.errors || B.errors) console.log(`errors: first ${JSON.stringify(F.errorKinds)} labvirt ${JSON.stringify(L.errorKinds)} bare ${JSON.stringify(B.errorKinds)}`)
  console.log(`seats handed out in the first storm: ${seatsGiven}/${TERMINALS}`)
  console.log(`throughput ratio (LabVirt / bare, medians): ${fmt(ratio, 3)}  target >= 0.8: ${ratio >= 0.8 ? 'MET' : 'MISSED'}; paired ratio median ${fmt(pair.ratio.median, 3)}`)
  console.log(`floor (GET ${floorUrl.pathname} / bare, medians): ${fmt(H.throughput.median / B.throughput.median, 3)}; server CPU per request: terminal ${fmt(L.cpuMs.median / TERMINALS * 1000, 0)} us, floor ${fmt(H.cpuMs.median / TERMINALS * 1000, 0)} us, bare h3 ${fmt(B.cpuMs.median / TERMINALS * 1000, 0)} us`)
  console.log(`errors: ${L.errors + F.errors}  target 0: ${L.errors + F.errors === 0 ? 'MET' : 'MISSED'}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  const file = await saveResult('boot-storm', {
    reps: REPS, terminals: TERMINALS, machine, seatsGiven,
    labvirt: L, bare: B, floor: H, first: F, ratio, paired: pair,
    samples: { labvirt: labvirt.map((r) => ({ wallMs: r.wallMs, cpuMs: r.cpuMs, ms: r.samples.map((s) => +s.ms.toFixed(2)) })), bare: plain.map((r) => ({ wallMs: r.wallMs, cpuMs: r.cpuMs, ms: r.samples.map((s) => +s.ms.toFixed(2)) })), first: { wallMs: first.wallMs, cpuMs: first.cpuMs, ms: first.samples.map((s) => +s.ms.toFixed(2)) } },
  })
  console.log(`saved ${file}`)
  await cleanup()
})
