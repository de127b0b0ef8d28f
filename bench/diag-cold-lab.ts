// Diagnostic (not a benchmark): where the server's time goes while a lab of N seats starts.
// Runs one cold lab with strace attached to the server (fsync/fdatasync/execve/spawn syscalls,
// with their durations) and prints a timeline: POST answered, each QEMU process first seen, each
// pidfile written, GET showing all running; plus the fsync count and total time in fsync.
//
//   node bench/run.mjs diag-cold-lab [--seats 20]
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Api, alive, fmt, option, processesNaming, runBench, sleep, startServer, tempDir } from './lib'

const SEATS = option('seats', 20)

runBench(async () => {
  const dataDir = await tempDir('lvb-')
  const traceFile = join(await tempDir('lvt-'), 'strace.txt')
  const server = await startServer(dataDir, { LABVIRT_POWERDOWN_TIMEOUT: '1' })
  const api = await new Api(server.url).login()
  const image = await api.must('POST', '/api/images', { name: 'diagimg', sizeMiB: 16 })
  const profile = await api.must('POST', '/api/profiles', { name: 'diagprof', memoryMiB: 64, disks: [{ image: image.id }] })

  const strace = spawn('strace', ['--seccomp-bpf', '-f', '-ttt', '-T', '-e', 'trace=fsync,fdatasync,execve,clone,clone3,vfork,rename', '-o', traceFile, '-p', String(server.proc.pid)], { stdio: 'ignore' })
  await sleep(1000)

  /** Summed over the server's threads: ns on CPU, ns waiting on a run queue (runnable, no CPU). */
  const sched = () => {
    let cpu = 0
    let wait = 0
    for (const t of readdirSync(`/proc/${server.proc.pid}/task`)) {
      const [c, w] = readFileSync(`/proc/${server.proc.pid}/task/${t}/schedstat`, 'utf8').trim().split(' ').map(Number)
      cpu += c!
      wait += w!
    }
    return { cpu, wait }
  }
  const mainThread = () => readFileSync(`/proc/${server.proc.pid}/schedstat`, 'utf8').trim().split(' ').map(Number)
  const s0 = sched()
  const m0 = mainThread()
  const seen = new Map<number, number>()
  const gone = new Map<number, number>()
  const t0Wall = Date.now()
  const t0 = performance.now()
  let watching = true
  const watcher = (async () => {
    while (watching) {
      const now = processesNaming(join(dataDir, 'run')).filter((p) => p.argv[0]?.includes('qemu'))
      const t = performance.now() - t0
      for (const p of now) if (!seen.has(p.pid)) seen.set(p.pid, t)
      const live = new Set(now.map((p) => p.pid))
      for (const pid of seen.keys()) if (!live.has(pid) && !gone.has(pid)) gone.set(pid, t)
      await sleep(5)
    }
  })()
  const lab = await api.must('POST', '/api/labs', { name: 'diag', size: SEATS, profiles: [profile.id] })
  const tPost = performance.now() - t0
  let tAll = 0
  let seats: any[] = []
  const gets: string[] = []
  for (;;) {
    const g0 = performance.now() - t0
    seats = (await api.must('GET', '/api/vms')).filter((v: any) => v.lab === lab.id)
    tAll = performance.now() - t0
    const running = seats.filter((s) => s.state === 'running' && s.pid).length
    if (gets.length === 0 || !gets[gets.length - 1]!.endsWith(` ${running} running`)) gets.push(`${fmt(g0, 0)}+${fmt(tAll - g0, 0)}ms ${running} running`)
    if (seats.length === SEATS && seats.every((s) => s.state === 'running' && s.pid)) break
    await sleep(20)
  }
  watching = false
  const s1 = sched()
  const m1 = mainThread()
  await watcher
  strace.kill('SIGINT')
  await new Promise((r) => strace.once('exit', r))

  const pidfiles = seats.map((s) => statSync(join(server.runDir, `${s.id}.pid`)).mtimeMs - t0Wall).sort((a, b) => a - b)
  const firstSeen = [...seen.values()].sort((a, b) => a - b)
  console.log(`POST /api/labs answered             ${fmt(tPost)} ms`)
  console.log(`QEMU processes first seen (ms)      ${firstSeen.map((x) => fmt(x, 0)).join(' ')}`)
  console.log(`QEMU parents (non-daemon) exited (ms) ${[...gone.values()].sort((a, b) => a - b).map((x) => fmt(x, 0)).join(' ')}`)
  console.log(`pidfiles written (ms)               ${pidfiles.map((x) => fmt(x, 0)).join(' ')}`)
  console.log(`GET /api/vms: all ${SEATS} running      ${fmt(tAll)} ms`)
  console.log(`GET timeline (start+duration, running count when it changed): ${gets.join(' | ')}`)

  // strace: fsync/fdatasync durations inside [t0, tAll], and execve of qemu.
  const lines = readFileSync(traceFile, 'utf8').split('\n')
  const start = t0Wall / 1000
  let fsyncs = 0
  let fsyncTotal = 0
  let fsyncMax = 0
  const execs: number[] = []
  for (const l of lines) {
    const m = /^\d+\s+(\d+\.\d+)\s+(\w+)\(.*<(\d+\.\d+)>$/.exec(l)
    if (!m) continue
    const at = Number(m[1]) - start
    if (at < 0 || at * 1000 > tAll) continue
    const dur = Number(m[3]) * 1000
    if (m[2] === 'fsync' || m[2] === 'fdatasync') {
      fsyncs++
      fsyncTotal += dur
      fsyncMax = Math.max(fsyncMax, dur)
    }
    if (m[2] === 'execve' && l.includes('qemu-system')) execs.push(at * 1000)
  }
  console.log(`server CPU time in the window: ${fmt((s1.cpu - s0.cpu) / 1e6)} ms (all threads), ${fmt((m1[0]! - m0[0]!) / 1e6)} ms (main thread)`)
  console.log(`server runnable but waiting for a CPU: ${fmt((s1.wait - s0.wait) / 1e6)} ms (all threads), ${fmt((m1[1]! - m0[1]!) / 1e6)} ms (main thread), ${m1[2]! - m0[2]!} main-thread timeslices`)
  console.log(`server fsync/fdatasync in the window: ${fsyncs} calls, ${fmt(fsyncTotal)} ms total, max ${fmt(fsyncMax)} ms`)
  console.log(`execve of qemu by the server (ms):  ${execs.map((x) => fmt(x, 0)).join(' ')}`)
  console.log(`strace log: ${traceFile} (kept until exit)`)

  await api.must('DELETE', `/api/labs/${lab.id}`, undefined, [200, 204])
  while (seats.some((s) => alive(s.pid))) await sleep(50)
})
