// Cold lab: a lab of 20 seats created through the API, against the same 20 QEMU argv spawned in
// parallel by a shell loop.
//
// Server side: POST /api/labs {size: 20} -> GET /api/vms (polled every --poll ms) shows all 20
//   seats `running` with a pid ("server"); then all 20 tool QMP sockets answer query-status
//   'running' ("server + QMP"). Also read: when the 20th pidfile was written (QEMU's own
//   start, from the pidfiles' mtimes), which splits the time into "QEMU starting" and "after".
// By hand: `bash -c 'for a in ...; do qemu-system-x86_64 $a & done; wait'` with the 20 argv the
//   server used (read back from /proc, moved to a same-length run dir), then all 20 QMP sockets
//   answer greeting + capabilities + query-status 'running' ("by hand").
// Interleaved (ABBA), same run; each server repetition uses a fresh lab (same-length name), deleted
// afterwards; every QEMU is gone before the next repetition starts.
//
//   node bench/run.mjs cold-lab [--reps 10] [--seats 20] [--poll 100]
import { statSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import {
  Api, interleaved, MachineLoad, paired, QEMU, cleanup, cmdlineOf, fmt, killQemusUnder, mkdir, option, processesNaming, qmpStatus, retarget, row,
  runBench, saveResult, schedOf, sleep, startServer, stats, tempDir, rm, alive,
} from './lib'
import { shq } from '#server/shell'

const REPS = option('reps', 10)
const SEATS = option('seats', 20)
const POLL_MS = option('poll', 100)


runBench(async () => {
  const load = new MachineLoad()
  const dataDir = await tempDir('lvb-')
  const handDir = await tempDir('lvh-')
  const handRun = join(handDir, 'run')
  await mkdir(handRun, { recursive: true })

  // Powerdown of a blank guest never completes: give up after 1 s so teardown is quick.
  const server = await startServer(dataDir, { LABVIRT_POWERDOWN_TIMEOUT: '1' })
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('cold')

  let labNo = 0
  let handArgvs: string[][] = []
  const server20: number[] = []
  const server20Qmp: number[] = []
  const serverLastPid: number[] = []
  const serverPost: number[] = []
  const hand20: number[] = []
  const handWait: number[] = []
  const handLastPid: number[] = []
  const teardown: number[] = []
  const serverCpu: number[] = []
  const serverWait: number[] = []

  /** ms from `t0Wall` (Date.now()) to the newest pidfile mtime among `files`. */
  const lastPidfileMs = (files: string[], t0Wall: number) => Math.max(...files.map((f) => statSync(f).mtimeMs)) - t0Wall

  async function viaServer(record: boolean) {
    const name = `cold${String(++labNo).padStart(3, '0')}`
    const s0 = schedOf(server.proc.pid!)
    const t0Wall = Date.now()
    const t0 = performance.now()
    const lab = await api.must('POST', '/api/labs', { name, size: SEATS, profiles: [profile.id] })
    const tPost = performance.now()
    let seats: any[] = []
    let t1 = 0
    for (;;) {
      const vms: any[] = await api.must('GET', '/api/vms')
      t1 = performance.now()
      seats = vms.filter((v) => v.lab === lab.id)
      if (seats.length === SEATS && seats.every((s) => s.state === 'running' && s.pid)) break
      const failed = seats.find((s) => s.state === 'failed')
      if (failed) throw new Error(`seat failed: ${JSON.stringify(failed)}`)
      if (t1 - t0 > 120_000) throw new Error(`lab not running after 120 s: ${seats.map((s) => `${s.id}:${s.state}`).join(' ')}`)
      await sleep(POLL_MS)
    }
    const s1 = schedOf(server.proc.pid!)
    const st = await Promise.all(seats.map((s) => qmpStatus(join(server.runDir, `${s.id}.tool.qmp`))))
    const t2 = performance.now()
    if (st.some((s) => s !== 'running')) throw new Error(`QMP: ${st}`)
    const lastPid = lastPidfileMs(seats.map((s) => join(server.runDir, `${s.id}.pid`)), t0Wall)
    if (!handArgvs.length) handArgvs = seats.map((s) => retarget(cmdlineOf(s.pid), server.runDir, handRun))
    if (record) {
      serverPost.push(tPost - t0)
      server20.push(t1 - t0)
      server20Qmp.push(t2 - t0)
      serverLastPid.push(lastPid)
      serverCpu.push(s1.cpuMs - s0.cpuMs)
      serverWait.push(s1.waitMs - s0.waitMs)
    }
    // Teardown: delete the lab; the loop powers the seats down (1 s timeout) and quits them.
    const td = performance.now()
    await api.must('DELETE', `/api/labs/${lab.id}`, undefined, [200, 204])
    const deadline = Date.now() + 60_000
    while (seats.some((s) => alive(s.pid))) {
      if (Date.now() > deadline) throw new Error('seats still alive 60 s after the lab was deleted')
      await sleep(50)
    }
    if (record) teardown.push(performance.now() - td)
  }

  async function byHand(record: boolean) {
    // One shell loop over the 20 argv, as an admin would write it.
    const lines = handArgvs.map((a) => a.map(shq).join(' '))
    const script = [
      `while IFS= read -r args; do eval "${QEMU} $args" & done <<'EOF'`,
      ...lines,
      'EOF',
      'wait',
    ].join('\n')
    const t0Wall = Date.now()
    const t0 = performance.now()
    const code = await new Promise<number | null>((res, rej) => {
      const p = spawn('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] })
      p.once('error', rej)
      p.once('exit', res)
    })
    const t1 = performance.now()
    if (code !== 0) throw new Error(`shell loop exited ${code}`)
    const names = handArgvs.map((a) => a[a.indexOf('-name') + 1]!)
    const st = await Promise.all(names.map((n) => qmpStatus(join(handRun, `${n}.qmp`))))
    const t2 = performance.now()
    if (st.some((s) => s !== 'running')) throw new Error(`QMP: ${st}`)
    const lastPid = lastPidfileMs(names.map((n) => join(handRun, `${n}.pid`)), t0Wall)
    if (record) {
      hand20.push(t2 - t0)
      handWait.push(t1 - t0)
      handLastPid.push(lastPid)
    }
    const killed = await killQemusUnder(handRun)
    if (killed !== SEATS) throw new Error(`expected ${SEATS} hand-spawned QEMU, killed ${killed}`)
    for (const f of readdirSync(handRun)) await rm(join(handRun, f), { force: true })
  }

  // Warm-up: one of each (the first server run also captures the argv).
  await viaServer(false)
  await byHand(false)
  await interleaved(REPS, viaServer, byHand, 1000)
  const left = processesNaming(dataDir).filter((p) => p.argv[0]?.includes('qemu'))
  if (left.length) console.log(`WARNING: ${left.length} server QEMU still running after the last teardown`)

  const machine = load.report()
  const ratio = stats(server20).median / stats(hand20).median
  const ratioQmp = stats(server20Qmp).median / stats(hand20).median
  console.log()
  console.log(`${SEATS} seats, memoryMiB 64, 16 MiB blank image, TCG, GET poll every ${POLL_MS} ms`)
  console.log(row('by hand: loop start -> `wait` returned', handWait))
  console.log(row('by hand: loop start -> last pidfile written', handLastPid))
  console.log(row(`by hand: loop start -> all ${SEATS} QMP running`, hand20))
  console.log(row('server: POST /api/labs answered', serverPost))
  console.log(row('server: POST -> last pidfile written', serverLastPid))
  console.log(row(`server: POST -> all ${SEATS} running in GET /api/vms`, server20))
  console.log(row(`server: POST -> ... + all ${SEATS} tool QMP running`, server20Qmp))
  console.log(row('server process: CPU time, POST -> all running', serverCpu))
  console.log(row('server process: runnable, waiting for a CPU', serverWait))
  console.log(row('server: DELETE lab -> all seats gone (teardown)', teardown))
  console.log(`ratio of medians (server GET / by hand): ${fmt(ratio, 3)}  target <= 1.0: ${ratio <= 1.0 ? 'MET' : 'MISSED'}`)
  console.log(`ratio of medians (server GET + QMP / by hand): ${fmt(ratioQmp, 3)}`)
  const pair = paired(server20, hand20)
  console.log(`paired per repetition (server GET minus by hand): median ${fmt(pair.diff.median)} ms, p90 ${fmt(pair.diff.p90)} ms; paired ratio median ${fmt(pair.ratio.median, 3)}, p90 ${fmt(pair.ratio.p90, 3)}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  const file = await saveResult('cold-lab', {
    reps: REPS, seats: SEATS, pollMs: POLL_MS, machine, argv: handArgvs[0],
    ms: { handWait, handLastPid, hand20, serverPost, serverLastPid, server20, server20Qmp, teardown, serverCpu, serverWait },
    stats: {
      handWait: stats(handWait), handLastPid: stats(handLastPid), hand20: stats(hand20), serverPost: stats(serverPost),
      serverLastPid: stats(serverLastPid), serverCpu: stats(serverCpu), serverWait: stats(serverWait), server20: stats(server20), server20Qmp: stats(server20Qmp), teardown: stats(teardown),
    },
    ratio, ratioQmp, paired: pair,
  })
  console.log(`saved ${file}`)
  await cleanup()
})
