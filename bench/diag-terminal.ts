// Diagnostic (not a benchmark): the CPU of the terminal route's domain work (`answerTerminal`),
// in this process with the server's own file store, for sticky terminals asking again: what the
// route adds to the floor of bench/boot-storm beyond HTTP.
//
//   node bench/run.mjs diag-terminal [--terminals 200] [--reps 20] [--path /bench/floor]
import { request } from 'node:http'
import { hostname } from 'node:os'
import { Api, fmt, option, runBench, schedOf, startServer, tempDir, terminalAddress } from './lib'

const TERMINALS = option('terminals', 200)
const REPS = option('reps', 20)
// --path /bench/floor (a LABVIRT_BENCH_FLOOR=1 build): the same requests to the floor route.
const PATH = process.argv.includes('--path') ? process.argv[process.argv.indexOf('--path') + 1]! : '/api/terminal'

runBench(async () => {
  const dataDir = await tempDir('lvd-')
  const server = await startServer(dataDir, { LABVIRT_RECONCILE: 'off' })
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('diag')
  const client = await api.must('POST', '/api/clients', { name: 'diagc', program: 'xfreerdp', args: ['/v:%HOST%:%PORT%', '/u:%USER%', '/f'] })
  const lab = await api.must<{ id: string }>('POST', '/api/labs', { name: 'diag', size: TERMINALS, profiles: [profile.id], client: client.id, network: { mode: 'user' } })
  for (let n = 0; n < TERMINALS; n++) await api.must('POST', '/api/terminals', { name: `dt${n}`, ip: terminalAddress(n), lab: lab.id, params: { USER: `student${n}` } })
  await server.stop()

  process.env.LABVIRT_DATA_DIR = dataDir
  const { readConfig } = await import('#server/config')
  const { openKv, repositories } = await import('#storage')
  const { answerTerminal } = await import('#server/terminals/answer')
  const config = readConfig()
  const kv = await openKv({ dir: dataDir })
  const store = repositories(kv)
  const startedAt = new Date().toISOString()
  for (let seat = 1; seat <= TERMINALS; seat++) {
    const id = `${lab.id}-${seat}`
    await store.vms.create(id, { id, kind: 'seat', lab: lab.id, seat, profile: profile.id, state: 'running', host: hostname(), startedAt, failures: 0 })
    await store.readiness.create(id, { startedAt, ready: true, readySince: startedAt })
  }
  const ctx = { config: { ...config, probeIntervalMs: 5000 }, store }
  const all = () => Promise.all(Array.from({ length: TERMINALS }, (_, i) => answerTerminal(ctx, { ip: terminalAddress(i) }, '127.0.0.1')))
  await all() // hands out the seats
  for (let i = 0; i < 3; i++) await all()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let r = 0; r < REPS; r++) await all()
  const cpu = process.cpuUsage(c0)
  const n = REPS * TERMINALS
  console.log(`answerTerminal, sticky: ${fmt(((cpu.user + cpu.system) / n), 1)} us CPU per answer (${fmt((performance.now() - t0) * 1000 / n, 1)} us wall), ${n} answers`)
  await kv.close()

  // The same answers over HTTP, one connection each (BENCH_SERVER_NODE_OPTIONS=--cpu-prof to see where).
  const served = await startServer(dataDir, { LABVIRT_RECONCILE: 'off' })
  const url = new URL(`${served.url}${PATH}`)
  const get = (i: number) =>
    new Promise<number>((res) => {
      const req = request(url, { localAddress: terminalAddress(i), agent: false, headers: { accept: 'text/plain' } }, (r) => r.resume().on('end', () => res(r.statusCode!)))
      req.on('error', () => res(0))
      req.end()
    })
  const storm = () => Promise.all(Array.from({ length: TERMINALS }, (_, i) => get(i)))
  for (let i = 0; i < 3; i++) await storm()
  const s0 = schedOf(served.proc.pid!)
  let ok = 0
  for (let r = 0; r < REPS; r++) ok += (await storm()).filter((s) => s === 200).length
  console.log(`GET ${PATH}, sticky: ${fmt((schedOf(served.proc.pid!).cpuMs - s0.cpuMs) * 1000 / (REPS * TERMINALS), 1)} us server CPU per request, ${ok}/${REPS * TERMINALS} ok`)
  await served.stop()
})
