// Diagnostic (not a benchmark): the cost of spawning N daemonizing QEMU from node, against a shell
// loop, with the argv a lab's seats use. Interleaved, same run:
//   shell:  bash `while read; do qemu ... & done; wait`
//   spawn:  node child_process.spawn x N in one loop (how long each spawn() call blocks the event
//           loop: libuv returns from uv_spawn only once the child has exec'd)
//   execa:  N execa() calls at once, as the server's startVm does (Promise.all)
// Each ends when every daemonizing parent has exited; all QEMU are then killed.
//
//   node bench/run.mjs diag-spawn [--seats 20] [--reps 5]
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { QEMU, fmt, killQemusUnder, mkdir, option, rm, row, runBench, sleep, stats, tempDir } from './lib'
import { shq } from '#server/shell'

const SEATS = option('seats', 20)
const REPS = option('reps', 5)

runBench(async () => {
  const dir = await tempDir('lvh-')
  const run = join(dir, 'run')
  await mkdir(run, { recursive: true })
  const img = join(dir, 'img.qcow2')
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', img, '16M'])
  // The seat argv of a lab (see start-overhead's output), one per seat.
  const argvs = Array.from({ length: SEATS }, (_, i) => {
    const n = `s-${i + 1}`
    return [
      '-name', n, '-m', '64', '-smp', '1', '-accel', 'tcg', '-nodefaults', '-vga', 'std', '-netdev', 'user,id=net0',
      '-device', `virtio-net-pci,netdev=net0,mac=52:54:00:aa:00:${(i + 1).toString(16).padStart(2, '0')},id=nic0`,
      '-drive', `if=none,id=drive-ide0,file=${img},format=qcow2,snapshot=on`, '-device', 'ide-hd,bus=ide.0,unit=0,drive=drive-ide0,id=ide0',
      '-boot', 'c', '-qmp', `unix:${run}/${n}.qmp,server=on,wait=off`, '-qmp', `unix:${run}/${n}.tool.qmp,server=on,wait=off`,
      '-vnc', `unix:${run}/${n}.vnc`, '-pidfile', `${run}/${n}.pid`, '-daemonize',
    ]
  })
  const res = { shell: [] as number[], spawn: [] as number[], execa: [] as number[], spawnBlock: [] as number[], spawnLoop: [] as number[], execaLoopMax: [] as number[] }

  async function viaShell() {
    const script = [`while IFS= read -r a; do eval "${QEMU} $a" & done <<'EOF'`, ...argvs.map((a) => a.map(shq).join(' ')), 'EOF', 'wait'].join('\n')
    const t0 = performance.now()
    await new Promise((r) => spawn('bash', ['-c', script], { stdio: 'ignore' }).once('exit', r))
    res.shell.push(performance.now() - t0)
  }
  async function viaSpawn() {
    const t0 = performance.now()
    const exits: Promise<unknown>[] = []
    for (const a of argvs) {
      const s = performance.now()
      const p = spawn(QEMU, a, { stdio: 'ignore' })
      res.spawnBlock.push(performance.now() - s)
      exits.push(new Promise((r) => p.once('exit', r)))
    }
    res.spawnLoop.push(performance.now() - t0)
    await Promise.all(exits)
    res.spawn.push(performance.now() - t0)
  }
  async function viaExeca() {
    const h = monitorEventLoopDelay({ resolution: 5 })
    h.enable()
    const t0 = performance.now()
    await Promise.all(argvs.map((a) => execa(QEMU, a, { reject: false, timeout: 60_000, stdin: 'ignore' })))
    res.execa.push(performance.now() - t0)
    h.disable()
    res.execaLoopMax.push(h.max / 1e6)
  }
  async function reset() {
    await killQemusUnder(run)
    for (const f of readdirSync(run)) await rm(join(run, f), { force: true })
    await sleep(1000)
  }
  for (let i = 0; i < REPS; i++) {
    const order = [[viaShell, viaSpawn, viaExeca], [viaExeca, viaSpawn, viaShell], [viaSpawn, viaExeca, viaShell]][i % 3]!
    for (const f of order) {
      await f()
      await reset()
    }
    process.stderr.write(`\r${i + 1}/${REPS}`)
  }
  process.stderr.write('\n')
  console.log(row(`shell loop: ${SEATS} parents exited`, res.shell))
  console.log(row(`node spawn() loop: ${SEATS} parents exited`, res.spawn))
  console.log(row(`execa x${SEATS} (Promise.all): all resolved`, res.execa))
  console.log(row('one spawn() call blocks the event loop for', res.spawnBlock))
  console.log(row(`the ${SEATS} spawn() calls block it for`, res.spawnLoop))
  console.log(row(`execa x${SEATS}: longest event-loop stall`, res.execaLoopMax))
  console.log(`ratio of medians execa/shell ${fmt(stats(res.execa).median / stats(res.shell).median, 3)}, spawn/shell ${fmt(stats(res.spawn).median / stats(res.shell).median, 3)}`)
})
