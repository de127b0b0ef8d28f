// Readiness latency: how soon after a seat's service starts answering LabVirt calls it `ready`.
//
// The demo lab (`POST /api/demo`: the tiny guest of QEMU-FACTS, 2 seats in user mode, its echo
// service on the forwarded port, profile probe `tcp`) on the built server with the default probe
// settings. Each repetition restarts both seats (`POST /api/vms/<seat>/actions {restart}`), then
// polls, every 20 ms and for each seat: an echo through its forwarded port (the moment its service
// answers) and `GET /api/vms/<seat>` (the moment LabVirt shows `ready: true`). The figure is the
// time between the two, per seat and repetition.
//
//   node bench/run.mjs readiness [--reps 10]
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Api, cleanup, fmt, MachineLoad, option, runBench, saveResult, startServer, stats, tempDir } from './lib'

const REPS = option('reps', 10)
const POLL_MS = 20

/** True when a line sent to the port comes back (the guest's echo, not slirp's bare accept). */
function echoes(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1')
    const end = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => end(false), 300)
    sock.on('connect', () => sock.write('ping\n'))
    sock.on('data', (d) => String(d).includes('ping') && (clearTimeout(timer), end(true)))
    sock.on('error', () => (clearTimeout(timer), end(false)))
    sock.on('close', () => (clearTimeout(timer), end(false)))
  })
}

runBench(async () => {
  const load = new MachineLoad()
  const server = await startServer(await tempDir('lvr-'), {})
  const api = await new Api(server.url).login()
  await api.must('POST', '/api/demo', {}, [200, 201])
  const lab = await api.must('GET', '/api/labs/demo')
  const seats = Array.from({ length: lab.size as number }, (_, i) => ({ id: `demo-${i + 1}`, port: (lab.network.hostPort as number) + i }))
  const lags: number[] = []
  const misses: string[] = []
  for (let rep = 0; rep < REPS; rep++) {
    // From the restart on, each seat's first echo and the first GET that shows it ready.
    const before = new Map<string, number>()
    for (const s of seats) before.set(s.id, (await api.must('GET', `/api/vms/${s.id}`)).pid)
    await Promise.all(seats.map((s) => api.must('POST', `/api/vms/${s.id}/actions`, { action: 'restart' })))
    await Promise.all(seats.map(async (s) => {
      const deadline = performance.now() + 120_000
      const fresh = (vm: { pid?: number }) => !!vm.pid && vm.pid !== before.get(s.id)
      // Two loops side by side: the first echo through the port, the first GET showing it ready.
      const answered = (async () => {
        // Only once the new process runs: the old one's echo does not count.
        while (performance.now() < deadline && !fresh(await api.must('GET', `/api/vms/${s.id}`))) await sleep(POLL_MS)
        while (performance.now() < deadline) {
          if (await echoes(s.port)) return performance.now()
          await sleep(POLL_MS)
        }
        return undefined
      })()
      const ready = (async () => {
        while (performance.now() < deadline) {
          const vm = await api.must('GET', `/api/vms/${s.id}`)
          if (fresh(vm) && vm.ready) return performance.now()
          await sleep(POLL_MS)
        }
        return undefined
      })()
      const [a, r] = await Promise.all([answered, ready])
      if (a === undefined || r === undefined) misses.push(`${s.id}: ${a === undefined ? 'no echo' : 'not ready'} within 120 s`)
      else lags.push(Math.max(0, r - a))
    }))
    process.stderr.write(`\r${rep + 1}/${REPS}`)
  }
  process.stderr.write('\n')
  const machine = load.report()
  const L = stats(lags)
  console.log()
  console.log(`${seats.length} tiny-guest seats, ${REPS} restarts each, default probe settings, poll every ${POLL_MS} ms`)
  console.log(`service answering -> GET shows ready  n=${L.n}  median ${fmt(L.median, 0)} ms  p95 ${fmt(L.p95, 0)} ms  max ${fmt(L.max, 0)} ms  target p95 < 1000 ms: ${L.p95 < 1000 ? 'MET' : 'MISSED'}`)
  if (misses.length) console.log(`not measured: ${misses.join('; ')}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  console.log(`saved ${await saveResult('readiness', { reps: REPS, machine, lags: L, samples: lags, misses })}`)
  await api.request('DELETE', '/api/labs/demo').catch(() => {})
  await server.stop()
  await cleanup()
})
