// Diagnostic (not a benchmark): where the server's time goes while a lab of N seats starts.
// Repeats: a cold lab through the API (with --strace, strace attached to every thread of the server,
// not to its children: fsync, openat, rename, clone/vfork, HTTP writes, with durations; GET
// /api/health probed every 50 ms throughout), then the same N QEMU
// spawned by hand and killed (as the benchmark interleaves them). For each lab it prints a
// timeline: POST answered, when the server wrote the lab's event record, QEMU parents exiting,
// pidfiles written, GET /api/vms running counts; and the server's CPU and run-queue wait.
//
//   node bench/run.mjs diag-cold-lab [--seats 20] [--iterations 3] [--strace]
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import {
  Api, alive, cmdlineOf, fmt, killQemusUnder, mkdir, option, processesNaming, retarget, rm, runBench, schedOf, sleep, spawnDaemon,
  startServer, stats, tempDir, flag,
} from './lib'

const SEATS = option('seats', 20)
const ITERATIONS = option('iterations', 3)

runBench(async () => {
  const dataDir = await tempDir('lvb-')
  const handDir = await tempDir('lvh-')
  const handRun = join(handDir, 'run')
  await mkdir(handRun, { recursive: true })
  const traceDir = await tempDir('lvt-')
  const server = await startServer(dataDir, { LABVIRT_POWERDOWN_TIMEOUT: '1' })
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('diag')
  let handArgvs: string[][] = []

  for (let it = 1; it <= ITERATIONS; it++) {
    const traceFile = join(traceDir, `strace-${it}.txt`)
    const tids = readdirSync(`/proc/${server.proc.pid}/task`)
    const strace = !flag('strace') ? undefined : spawn('strace', ['-ttt', '-T', '-e', 'trace=fsync,fdatasync,openat,rename,clone,clone3,vfork,accept4,writev,write', '-o', traceFile, ...tids.flatMap((t) => ['-p', t])], { stdio: 'ignore' })
    await sleep(1000)

    const seen = new Map<number, number>()
    const gone = new Map<number, number>()
    const s0 = schedOf(server.proc.pid!)
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
    // GET /api/health (no store work beyond a ping) in a loop: how long the server takes to answer
    // anything while the lab starts.
    const health: [number, number][] = []
    let healthErrors = 0
    let probing = true
    const prober = (async () => {
      while (probing) {
        const h0 = performance.now()
        // A fresh connection each time: a kept-alive one can be reset by the server's idle timeout.
        const ok = await fetch(`${server.url}/api/health`, { headers: { connection: 'close' } }).then((r) => r.text()).then(() => true, () => false)
        if (ok) health.push([h0 - t0, performance.now() - h0])
        else healthErrors++
        await sleep(50)
      }
    })()
    const lab = await api.must('POST', '/api/labs', { name: `diag${it}`, size: SEATS, profiles: [profile.id] })
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
      if (seats.length === SEATS && running === SEATS) break
      await sleep(100)
    }
    watching = false
    await watcher
    const s1 = schedOf(server.proc.pid!)
    probing = false
    await prober
    if (strace) {
      strace.kill('SIGINT')
      await new Promise((r) => strace.once('exit', r))
    }
    if (!handArgvs.length) handArgvs = seats.map((s) => retarget(cmdlineOf(s.pid), server.runDir, handRun))

    const pidfiles = seats.map((s) => statSync(join(server.runDir, `${s.id}.pid`)).mtimeMs - t0Wall).sort((a, b) => a - b)
    const ms = (xs: Iterable<number>) => [...xs].sort((a, b) => a - b).map((x) => fmt(x, 0)).join(' ')
    console.log(`--- lab ${it}`)
    console.log(`POST /api/labs answered               ${fmt(tPost)} ms`)
    console.log(`QEMU parents (non-daemon) exited (ms) ${ms(gone.values())}`)
    console.log(`pidfiles written (ms)                 ${ms(pidfiles)}`)
    console.log(`GET /api/vms (start+duration, running count when it changed): ${gets.join(' | ')}`)
    console.log(`server: CPU ${fmt(s1.cpuMs - s0.cpuMs)} ms, runnable but waiting for a CPU ${fmt(s1.waitMs - s0.waitMs)} ms (all threads)`)

    const slow = health.filter(([, d]) => d > 200).map(([a, d]) => `${fmt(a, 0)}+${fmt(d, 0)}`)
    console.log(`GET /api/health: ${health.length} probes (${healthErrors} failed), latency median ${fmt(stats(health.map(([, d]) => d)).median)} ms, max ${fmt(stats(health.map(([, d]) => d)).max)} ms; slower than 200 ms (start+latency): ${slow.join(' ')}`)
    if (!strace) {
      await api.must('DELETE', `/api/labs/${lab.id}`, undefined, [200, 204])
      while (seats.some((s) => alive(s.pid))) await sleep(50)
      await sleep(1000)
      continue
    }
    // The trace: the event record's write (POST waits for it), fsyncs, spawns.
    const start = t0Wall / 1000
    const rel = (l: string) => (Number(/^\d+\s+(\d+\.\d+)/.exec(l)?.[1]) - start) * 1000
    const lines = readFileSync(traceFile, 'utf8').split('\n').filter((l) => /^\d+\s+\d/.test(l) && rel(l) >= 0 && rel(l) <= tAll)
    const eventLines = lines.filter((l) => l.includes('/store/events'))
    console.log(`event record write (ms): ${eventLines.map((l) => `${fmt(rel(l), 0)} ${/(openat|rename)/.exec(l)?.[1]}`).join(', ')}`)
    let fsyncs = 0
    let fsyncTotal = 0
    let fsyncMax = 0
    for (const l of lines) {
      const m = /\s(fsync|fdatasync)\(.*<(\d+\.\d+)>$/.exec(l)
      if (!m) continue
      fsyncs++
      fsyncTotal += Number(m[2]) * 1000
      fsyncMax = Math.max(fsyncMax, Number(m[2]) * 1000)
    }
    const spawns = lines.filter((l) => /\s(clone3?|vfork)\(/.test(l) && !/CLONE_THREAD/.test(l)).map(rel)
    const http = lines.filter((l) => /\s(accept4|writev|write)\(.*HTTP\/1\.1 /.test(l) || /\saccept4\(/.test(l)).map((l) => `${fmt(rel(l), 0)} ${/\s(accept4|writev|write)\(/.exec(l)?.[1]}${/HTTP\/1\.1 (\d+)/.exec(l)?.[1] ?? ''}`)
    console.log(`server HTTP accepts and response writes (ms): ${http.join(', ')}`)
    const vmWrites = lines.filter((l) => /rename\(.*\/store\/vms\//.test(l)).map(rel)
    console.log(`server fsync/fdatasync: ${fsyncs} calls, ${fmt(fsyncTotal)} ms total, max ${fmt(fsyncMax)} ms`)
    console.log(`server forks (ms): ${ms(spawns)}`)
    console.log(`status records renamed into place (ms): ${ms(vmWrites)}`)

    await api.must('DELETE', `/api/labs/${lab.id}`, undefined, [200, 204])
    while (seats.some((s) => alive(s.pid))) await sleep(50)
    await sleep(1000)
    // The same N by hand, then killed, as the benchmark does between server runs.
    await Promise.all(handArgvs.map((a) => spawnDaemon(a)))
    await killQemusUnder(handRun)
    for (const f of readdirSync(handRun)) await rm(join(handRun, f), { force: true })
    await sleep(1000)
  }
})
