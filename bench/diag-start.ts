// Diagnostic (not a benchmark): where the server's time goes in one `POST /api/vms/<seat>/actions
// {action:'start'}`. strace is attached to every thread of the server (not its children) and, for
// each start, the trace is cut into: request sent -> QEMU forked (the pass before the spawn),
// fork -> QEMU's daemonizing parent reaped (QEMU's own start), reaped -> response written (status
// writes and the answer), plus fsync count and time. Compare "fork -> reaped" with the hand-spawned
// figure of start-overhead.
//
//   node bench/run.mjs diag-start [--reps 10]
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Api, option, row, runBench, sleep, startServer, tempDir, waitGone } from './lib'

const REPS = option('reps', 10)
const SEAT = 'diag-1'

runBench(async () => {
  const dataDir = await tempDir('lvb-')
  const traceDir = await tempDir('lvt-')
  const server = await startServer(dataDir)
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('diag')
  await api.must('POST', '/api/labs', { name: 'diag', size: 1, profiles: [profile.id] })
  for (;;) {
    const vm = await api.must('GET', `/api/vms/${SEAT}`)
    if (vm.state === 'running') break
    await sleep(50)
  }
  await api.must('POST', `/api/vms/${SEAT}/actions`, { action: 'stop' })

  const traceFile = join(traceDir, 'strace.txt')
  const tids = readdirSync(`/proc/${server.proc.pid}/task`)
  const strace = spawn('strace', ['-ttt', '-T', '-e', 'trace=fsync,fdatasync,clone,clone3,vfork,wait4,writev,write', '-o', traceFile, ...tids.flatMap((t) => ['-p', t])], { stdio: 'ignore' })
  await sleep(1500)

  const windows: { t0: number; t1: number }[] = []
  for (let i = 0; i < REPS; i++) {
    const t0 = Date.now() / 1000
    const r = await api.must('POST', `/api/vms/${SEAT}/actions`, { action: 'start' })
    const t1 = Date.now() / 1000
    windows.push({ t0, t1 })
    await sleep(300)
    await api.must('POST', `/api/vms/${SEAT}/actions`, { action: 'stop' })
    await waitGone(r.pid)
    await sleep(300)
  }
  await sleep(300)
  strace.kill('SIGINT')
  await new Promise((res) => strace.once('exit', res))

  const lines = readFileSync(traceFile, 'utf8').split('\n').filter((l) => /^\d+\s+\d/.test(l))
  const at = (l: string) => Number(/^\d+\s+(\d+\.\d+)/.exec(l)![1])
  const toFork: number[] = []
  const spawnToReap: number[] = []
  const reapToAnswer: number[] = []
  const total: number[] = []
  const fsyncMs: number[] = []
  const fsyncN: number[] = []
  for (const w of windows) {
    const inside = lines.filter((l) => at(l) >= w.t0 && at(l) <= w.t1 + 0.05)
    const fork = inside.find((l) => /\s(clone3?|vfork)\(/.test(l) && !/CLONE_THREAD/.test(l))
    const forkPid = fork && Number(/= (\d+) <[\d.]+>$/.exec(fork)?.[1])
    const reap = inside.find((l) => /\swait4\((\d+)/.exec(l)?.[1] === String(forkPid) && !/= -1/.test(l)) ?? inside.find((l) => new RegExp(`wait4\\(-1.*= ${forkPid}\\b`).test(l))
    const answer = inside.filter((l) => /HTTP\/1\.1 200/.test(l)).pop()
    if (!fork || !reap || !answer) {
      console.log(`rep skipped (fork ${!!fork}, reap ${!!reap}, answer ${!!answer})`)
      continue
    }
    toFork.push((at(fork) - w.t0) * 1000)
    spawnToReap.push((at(reap) - at(fork)) * 1000)
    reapToAnswer.push((at(answer) - at(reap)) * 1000)
    total.push((w.t1 - w.t0) * 1000)
    const fs = inside.filter((l) => /\s(fsync|fdatasync)\(/.test(l))
    fsyncN.push(fs.length)
    fsyncMs.push(fs.reduce((n, l) => n + Number(/<([\d.]+)>$/.exec(l)?.[1] ?? 0) * 1000, 0))
  }
  console.log(row('POST sent -> server forks QEMU', toFork))
  console.log(row("fork -> QEMU's daemonizing parent reaped", spawnToReap))
  console.log(row('reaped -> HTTP response written', reapToAnswer))
  console.log(row('POST sent -> answer received (under strace)', total))
  console.log(row('fsync/fdatasync time per start', fsyncMs))
  console.log(`fsync/fdatasync calls per start: ${fsyncN.join(' ')}`)
})
