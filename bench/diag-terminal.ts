// Diagnostic (not a benchmark): the CPU of the terminal route's domain work (`answerTerminal`),
// in this process with the server's own file store, for sticky terminals asking again: what the
// route adds to the floor of bench/boot-storm beyond HTTP.
//
// With --against <output dir>, that build's server answers the same storms too, on a copy of the
// data, the two servers' storms interleaved (ABBA): a change's effect on the route in one run, which
// on a machine whose speed drifts between runs is the only comparison that holds.
//
//   node bench/run.mjs diag-terminal [--terminals 200] [--reps 20] [--path /bench/floor] [--against DIR]
import { cpSync } from 'node:fs'
import { request } from 'node:http'
import { hostname } from 'node:os'
import { Api, fmt, interleaved, option, paired, runBench, schedOf, startServer, stats, tempDir, terminalAddress } from './lib'

const TERMINALS = option('terminals', 200)
const REPS = option('reps', 20)
// --path /bench/floor (a LABVIRT_BENCH_FLOOR=1 build): the same requests to the floor route.
const PATH = process.argv.includes('--path') ? process.argv[process.argv.indexOf('--path') + 1]! : '/api/terminal'
const AGAINST = process.argv.includes('--against') ? process.argv[process.argv.indexOf('--against') + 1]! : undefined

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
  const sides = [{ name: 'this build', server: await startServer(dataDir, { LABVIRT_RECONCILE: 'off' }), cpu: [] as number[], ok: 0 }]
  if (AGAINST) {
    const otherDir = `${dataDir}-against`
    cpSync(dataDir, otherDir, { recursive: true })
    sides.push({ name: AGAINST, server: await startServer(otherDir, { LABVIRT_RECONCILE: 'off' }, AGAINST), cpu: [], ok: 0 })
  }
  const get = (url: URL, i: number) =>
    new Promise<number>((res) => {
      const req = request(url, { localAddress: terminalAddress(i), agent: false, headers: { accept: 'text/plain' } }, (r) => r.resume().on('end', () => res(r.statusCode!)))
      req.on('error', () => res(0))
      req.end()
    })
  const storm = async (side: (typeof sides)[number], record: boolean) => {
    const url = new URL(`${side.server.url}${PATH}`)
    const s0 = schedOf(side.server.proc.pid!)
    const codes = await Promise.all(Array.from({ length: TERMINALS }, (_, i) => get(url, i)))
    if (!record) return
    side.cpu.push(((schedOf(side.server.proc.pid!).cpuMs - s0.cpuMs) * 1000) / TERMINALS)
    side.ok += codes.filter((c) => c === 200).length
  }
  for (const side of sides) for (let i = 0; i < 3; i++) await storm(side, false)
  if (sides.length === 2) await interleaved(REPS, (r) => storm(sides[0]!, r), (r) => storm(sides[1]!, r), 100)
  else for (let r = 0; r < REPS; r++) await storm(sides[0]!, true)
  for (const side of sides) {
    console.log(`GET ${PATH}, sticky, ${side.name}: ${fmt(side.cpu.reduce((a, b) => a + b, 0) / side.cpu.length, 1)} us server CPU per request (median storm ${fmt(stats(side.cpu).median, 1)}), ${side.ok}/${REPS * TERMINALS} ok`)
  }
  if (sides.length === 2) console.log(`this build / ${AGAINST}, CPU per request: paired median ${fmt(paired(sides[0]!.cpu, sides[1]!.cpu).ratio.median, 3)}`)
  for (const side of sides) await side.server.stop()
})
