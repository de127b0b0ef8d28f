// Publish under a running lab: a profile whose system disk is a 2 GiB qcow2 (1 GiB of data) runs a
// lab of 6 seats; overlay maintenance starts, then `publish {force: true}` converts base + overlay
// into v2 and the idle seats move onto it, at most LABVIRT_RESTART_SHARE (25 %: 1 seat) at once.
//
// Measured, sampling every seat's QEMU process (pidfile + /proc) every 10 ms from the publish on:
// how long each seat had no process (target: its own restart only, compared with a plain `restart`
// action on one seat in the same run), the most seats down at once, the publish job's time, and
// the time from publish to every seat running v2.
//
//   node bench/run.mjs publish [--seats 6] [--gib 2] [--data-gib 1]
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { Api, cleanup, fmt, MachineLoad, option, runBench, saveResult, sleep, startServer, stats, tempDir } from './lib'

const SEATS = option('seats', 6)
const GIB = option('gib', 2)
const DATA_GIB = option('data-gib', 1)

function pidOf(runDir: string, id: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(runDir, `${id}.pid`), 'utf8').trim())
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z' ? undefined : pid
  } catch {
    return undefined
  }
}

/** Samples every 10 ms which of `seats` have no QEMU process: each one's time down, and the most down at once. */
function watchDown(runDir: string, seats: string[]) {
  const since = new Map<string, number>()
  const down = new Map(seats.map((s) => [s, 0]))
  let maxDown = 0
  let on = true
  const loop = (async () => {
    while (on) {
      const now = performance.now()
      let n = 0
      for (const s of seats) {
        if (pidOf(runDir, s) === undefined) {
          n++
          if (!since.has(s)) since.set(s, now)
        } else if (since.has(s)) {
          down.set(s, down.get(s)! + now - since.get(s)!)
          since.delete(s)
        }
      }
      maxDown = Math.max(maxDown, n)
      await sleep(10)
    }
  })()
  return { stop: async () => ((on = false), await loop, { down: seats.map((s) => down.get(s)!), maxDown }) }
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(50)
  }
}

runBench(async () => {
  const load = new MachineLoad()
  const dir = await tempDir('lvp-')
  const server = await startServer(join(dir, 'data'), { LABVIRT_RECONCILE_INTERVAL: '1', LABVIRT_POWERDOWN_TIMEOUT: '1', LABVIRT_DISK_RESERVE: '1G' })
  const api = await new Api(server.url).login()
  const image = await api.must('POST', '/api/images', { name: 'pubimg', sizeMiB: GIB * 1024 })
  // Data the flattened copy must carry (a pattern, not zeroes: qemu-img would skip those).
  await execa('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x11 0 ${DATA_GIB}G`, join(server.imagesDir, image.file)])
  const profile = await api.must('POST', '/api/profiles', { name: 'pubprof', memoryMiB: 64, disks: [{ image: image.id }] })
  const lab = await api.must('POST', '/api/labs', { name: 'publab', size: SEATS, max: SEATS, profiles: [profile.id], network: { mode: 'user' } })
  const seats = Array.from({ length: SEATS }, (_, i) => `${lab.id}-${i + 1}`)
  const vms = async () => (await api.must<any[]>('GET', '/api/vms')).filter((v) => v.lab === lab.id)
  await until('every seat running', 120_000, async () => (await vms()).filter((v) => v.state === 'running').length === SEATS)

  // Reference: one seat's own restart (the admin's `restart`), sampled the same way.
  const before = pidOf(server.runDir, seats[0]!)
  const ref = watchDown(server.runDir, [seats[0]!])
  const r0 = performance.now()
  await api.must('POST', `/api/vms/${seats[0]}/actions`, { action: 'restart' })
  await until('restarted seat back', 60_000, async () => {
    const pid = pidOf(server.runDir, seats[0]!)
    return pid !== undefined && pid !== before
  })
  const restartWall = performance.now() - r0
  const restartDown = (await ref.stop()).down[0]!

  await api.must('POST', `/api/profiles/${profile.id}/maintenance`, { action: 'start' })
  await until('maintenance VM running', 60_000, async () => (await api.must<any[]>('GET', '/api/vms')).some((v) => v.id === `${profile.id}-maint` && v.state === 'running'))

  // Sampling from the publish on.
  const watch = watchDown(server.runDir, seats)
  const t0 = performance.now()
  const { job } = await api.must('POST', `/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'bench', force: true }, [202])
  const done = await until('publish job done', 600_000, async () => {
    const j = await api.must('GET', `/api/jobs/${job.id}`)
    if (j.state === 'failed' || j.state === 'cancelled') throw new Error(`publish ${j.state}: ${j.error}`)
    return j.state === 'succeeded' && j
  })
  const jobS = (Date.parse(done.finishedAt) - Date.parse(done.createdAt)) / 1000
  const published = performance.now()
  await until('every seat on v2', 600_000, async () => {
    const all = await vms()
    return all.length === SEATS && all.every((v) => v.state === 'running' && v.version === 2)
  })
  const allOnV2 = performance.now()
  const { down: per, maxDown } = await watch.stop()
  const machine = load.report()

  const D = stats(per)
  console.log()
  console.log(`${GIB} GiB qcow2 (${DATA_GIB} GiB data), lab of ${SEATS} seats, LABVIRT_RESTART_SHARE 25 %`)
  console.log(`publish job (power down + convert + switch): ${fmt(jobS, 2)} s`)
  console.log(`publish to every seat on v2: ${fmt((allOnV2 - t0) / 1000, 2)} s (${fmt((allOnV2 - published) / 1000, 2)} s after the job ended)`)
  console.log(`each seat without a process: median ${fmt(D.median, 0)} ms, max ${fmt(D.max, 0)} ms; seats: ${per.map((x) => fmt(x, 0)).join(', ')}`)
  console.log(`a plain restart of one seat, same run: ${fmt(restartDown, 0)} ms without a process (${fmt(restartWall, 0)} ms action to new process)`)
  console.log(`most seats down at once: ${maxDown} (allowed 1)`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  const file = await saveResult('publish', { seats: SEATS, gib: GIB, dataGib: DATA_GIB, machine, jobS, toAllOnV2S: (allOnV2 - t0) / 1000, downMs: per, restartDownMs: restartDown, restartWallMs: restartWall, maxDown })
  console.log(`saved ${file}`)
  await cleanup()
})
