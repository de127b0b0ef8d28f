// Start overhead: one seat started through the API against the same QEMU argv spawned by hand.
//
// Server side (the seat is held down by a `stop` between repetitions):
//   POST /api/vms/<seat>/actions {action:'start'}  (returns after the reconcile pass that started QEMU)
//   + GET /api/vms/<seat> showing state 'running' and qemuState 'running'      -> "server"
//   then, as a check through QEMU itself, the VM's tool QMP socket answers query-status 'running'.
// By hand: spawn the seat's exact argv (-daemonize) with node's spawn, wait for the parent to exit,
//   connect to the QMP socket, greeting, qmp_capabilities, query-status 'running'  -> "by hand"
// Interleaved (ABBA order), same run, same image, same argv (only the run dir differs, same length).
//
// With --others N the lab has N more seats, running throughout (a busy lab: the start's pass
// observes them all); they boot and settle for 10 s before the first repetition.
//
//   node bench/run.mjs start-overhead [--reps 25] [--warmup 3] [--interval SECONDS] [--others N]
import { join } from 'node:path'
import {
  Api, interleaved, MachineLoad, paired, Qmp, cleanup, cmdlineOf, fmt, killQemusUnder, mkdir, option, qmpStatus, readPid, retarget, row, runBench,
  saveResult, sleep, spawnDaemon, startServer, stats, tempDir, waitGone, rm, QEMU,
} from './lib'

const REPS = option('reps', 25)
const WARMUP = option('warmup', 3)
const SEAT = 'bench-1'
const OTHERS = option('others', 0)
// The server's periodic reconcile interval, seconds (its default, 5, unless given).
const INTERVAL = process.argv.includes('--interval') ? String(option('interval', 5)) : undefined

runBench(async () => {
  const load = new MachineLoad()
  // Same-length dirs, so the hand-spawned argv is the seat's byte for byte but for the dir name.
  const dataDir = await tempDir('lvb-')
  const handDir = await tempDir('lvh-')
  const handRun = join(handDir, 'run')
  await mkdir(handRun, { recursive: true })

  const server = await startServer(dataDir, INTERVAL ? { LABVIRT_RECONCILE_INTERVAL: INTERVAL } : {})
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('bench')
  await api.must('POST', '/api/labs', { name: 'bench', size: 1 + OTHERS, profiles: [profile.id] })

  // The seat's real argv, read back from /proc once the loop has started it.
  let vm: any
  const deadline = Date.now() + 30_000
  for (;;) {
    vm = await api.must('GET', `/api/vms/${SEAT}`)
    if (vm.state === 'running' && vm.pid) break
    if (Date.now() > deadline) throw new Error(`seat never ran: ${JSON.stringify(vm)}\n${server.output()}`)
    await sleep(50)
  }
  if (OTHERS) {
    for (;;) {
      const vms: any[] = await api.must('GET', '/api/vms')
      if (vms.filter((v) => v.state === 'running').length === 1 + OTHERS) break
      if (Date.now() > deadline + 60_000) throw new Error(`not all ${1 + OTHERS} seats ran: ${vms.map((v) => `${v.id} ${v.state}`).join(', ')}`)
      await sleep(200)
    }
    console.log(`${OTHERS} other seats running; settling 10 s`)
    await sleep(10_000)
  }
  const seatArgv = cmdlineOf(vm.pid)
  const handArgv = retarget(seatArgv, server.runDir, handRun)
  const handQmp = join(handRun, `${SEAT}.qmp`)
  const handPidfile = join(handRun, `${SEAT}.pid`)
  const toolQmp = join(server.runDir, `${SEAT}.tool.qmp`)
  console.log(`seat argv: ${QEMU} ${seatArgv.join(' ')}`)
  await api.must('POST', `/api/vms/${SEAT}/actions`, { action: 'stop' })

  const post: number[] = []
  const postGet: number[] = []
  const postQmp: number[] = []
  const hand: number[] = []
  const handSpawn: number[] = []
  const raced: string[] = []

  async function viaServer(record: boolean) {
    const t0 = performance.now()
    const r = await api.request('POST', `/api/vms/${SEAT}/actions`, { action: 'start' })
    const t1 = performance.now()
    if (r.status !== 200) throw new Error(`start -> ${r.status} ${JSON.stringify(r.body)}`)
    let got = r.body
    let t2 = 0
    // The POST's own answer should already say running; if it does not, poll GET (and count it).
    let polls = 0
    for (;;) {
      const g = await api.must('GET', `/api/vms/${SEAT}`)
      t2 = performance.now()
      if (g.state === 'running' && g.qemuState === 'running' && g.pid) {
        got = g
        break
      }
      polls++
      if (t2 - t0 > 30_000) throw new Error(`seat not running 30 s after start: ${JSON.stringify(g)}`)
      await sleep(5)
    }
    if (r.body?.state !== 'running' || r.body?.qemuState !== 'running') raced.push(`POST answered ${r.body?.state}/${r.body?.qemuState}; running after ${polls} more GETs, ${fmt(t2 - t0)} ms`)
    const t3a = performance.now()
    const status = await qmpStatus(toolQmp)
    const t3 = performance.now()
    if (status !== 'running') throw new Error(`QMP says ${status}`)
    if (record) {
      post.push(t1 - t0)
      postGet.push(t2 - t0)
      postQmp.push(t1 - t0 + (t3 - t3a))
    }
    const stopped = await api.must('POST', `/api/vms/${SEAT}/actions`, { action: 'stop' })
    if (stopped.state === 'running') throw new Error(`stop did not stop: ${JSON.stringify(stopped)}`)
    await waitGone(got.pid)
  }

  async function byHand(record: boolean) {
    const t0 = performance.now()
    const code = await spawnDaemon(handArgv)
    const t1 = performance.now()
    if (code !== 0) throw new Error(`hand-spawned QEMU exited ${code}`)
    const q = await Qmp.connect(handQmp)
    const st = (await q.execute('query-status')).status
    const t2 = performance.now()
    if (st !== 'running') throw new Error(`QMP says ${st}`)
    if (record) {
      hand.push(t2 - t0)
      handSpawn.push(t1 - t0)
    }
    const pid = await readPid(handPidfile)
    await q.execute('quit').catch(() => {})
    q.close()
    await waitGone(pid)
    // QEMU leaves its VNC socket behind.
    await rm(join(handRun, `${SEAT}.vnc`), { force: true })
  }

  for (let i = 0; i < WARMUP; i++) {
    await viaServer(false)
    await byHand(false)
  }
  await interleaved(REPS, viaServer, byHand, 150)

  const machine = load.report()
  const ratio = stats(postGet).median / stats(hand).median
  const ratioQmp = stats(postQmp).median / stats(hand).median
  console.log()
  if (OTHERS) console.log(`with ${OTHERS} other seats of the lab running`)
  console.log(row('by hand: spawn -> parent exited', handSpawn))
  console.log(row('by hand: spawn -> QMP greeting + query-status running', hand))
  console.log(row('server: POST start -> answer', post))
  console.log(row('server: POST start -> GET qemuState running', postGet))
  console.log(row('server: POST start -> tool QMP query-status running', postQmp))
  console.log(`ratio of medians (POST + GET / by hand): ${fmt(ratio, 3)}  target <= 1.15: ${ratio <= 1.15 ? 'MET' : 'MISSED'}`)
  console.log(`ratio of medians (POST + QMP / by hand): ${fmt(ratioQmp, 3)}`)
  const pair = paired(postGet, hand)
  console.log(`paired per repetition (POST + GET minus by hand): median ${fmt(pair.diff.median)} ms, p90 ${fmt(pair.diff.p90)} ms; paired ratio median ${fmt(pair.ratio.median, 3)}, p90 ${fmt(pair.ratio.p90, 3)}`)
  console.log(`POST answers that were not yet running: ${raced.length}${raced.length ? '\n  ' + raced.join('\n  ') : ''}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  const file = await saveResult('start-overhead', {
    reps: REPS, warmup: WARMUP, others: OTHERS, reconcileInterval: INTERVAL ?? 'default (5 s)', machine, argv: seatArgv,
    ms: { handSpawn, hand, post, postGet, postQmp },
    stats: { handSpawn: stats(handSpawn), hand: stats(hand), post: stats(post), postGet: stats(postGet), postQmp: stats(postQmp) },
    ratio, ratioQmp, paired: pair, raced,
  })
  console.log(`saved ${file}`)
  await killQemusUnder(handDir)
  await cleanup()
})
