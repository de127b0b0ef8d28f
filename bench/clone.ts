// Full clone throughput: a profile's system disk copied by LabVirt against `cp` of the same file.
//
// LabVirt: `POST /api/profiles/<id>/clone {name, mode: 'full'}` on the built server, then
//   `GET /api/jobs/<id>` every 20 ms until it succeeded: qemu-img convert -p into a temporary file
//   (flushed to disk when qemu-img closes it), renamed, the image and profile records written.
//   The clone is deleted after each run (untimed).
// cp: `cp --sparse=always <source> <copy>` of the same qcow2 file into the same images directory,
//   then an fdatasync of the copy (what qemu-img does at its end): both sides are timed until the
//   copy is on disk, as LabVirt must have it before it records the new image. Without the flush cp
//   leaves the copy in the page cache, which no clone that is recorded as done may do.
// Interleaved (ABBA), same run, page cache warm for the source (read once first). The source is a
// qcow2 of `--gib` GiB with `--data` MiB written (random, so neither side meets zeroes).
//
//   node bench/run.mjs clone [--reps 6] [--gib 2] [--data 1024]
import { open, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { Api, cleanup, fmt, interleaved, MachineLoad, option, paired, runBench, saveResult, startServer, stats, tempDir } from './lib'

const REPS = option('reps', 6)
const GIB = option('gib', 2)
const DATA_MIB = option('data', 1024)

runBench(async () => {
  const load = new MachineLoad()
  const dataDir = await tempDir('lvc-')
  const server = await startServer(dataDir, { LABVIRT_RECONCILE: 'off' })
  const api = await new Api(server.url).login()
  const images = join(dataDir, 'images')
  const image = await api.must('POST', '/api/images', { name: 'clonesrc', sizeMiB: GIB * 1024 })
  const source = join(images, `${image.id}.qcow2`)
  // Random data written through qemu-io in 64 MiB writes of a random pattern file.
  const pattern = join(dataDir, 'pattern.bin')
  await execa('head', ['-c', String(64 * 2 ** 20), '/dev/urandom'], { stdout: { file: pattern } })
  for (let off = 0; off < DATA_MIB; off += 64) {
    await execa('qemu-io', ['-f', 'qcow2', '-c', `write -s ${pattern} ${off}M 64M`, source])
  }
  // On disk before the first run, or the first pair pays for the source's own writeback.
  await execa('sync', ['--data', source])
  await readFile(source)
  const bytes = (await stat(source)).size
  const profile = await api.must('POST', '/api/profiles', { name: 'clonesrc', memoryMiB: 64, disks: [{ image: image.id }] })

  let n = 0
  const labvirt: number[] = []
  const cp: number[] = []
  const progressSeen: number[] = []
  await interleaved(
    REPS,
    async () => {
      const name = `clone${n++}`
      const t0 = performance.now()
      const { job } = await api.must('POST', `/api/profiles/${profile.id}/clone`, { name, mode: 'full' }, [202])
      const seen = new Set<number>()
      for (;;) {
        const j = await api.must('GET', `/api/jobs/${job.id}`)
        seen.add(j.progress)
        if (j.state === 'succeeded') break
        if (j.state === 'failed' || j.state === 'cancelled') throw new Error(`clone job ${j.state}: ${j.error ?? ''}`)
        await sleep(20)
      }
      labvirt.push((performance.now() - t0) / 1000)
      progressSeen.push(seen.size)
      await api.must('DELETE', `/api/profiles/${name}`, undefined, [204])
      await api.must('DELETE', `/api/images/${name}`, undefined, [204])
    },
    async () => {
      const copy = join(images, 'cp-copy.qcow2')
      const t0 = performance.now()
      await execa('cp', ['--sparse=always', source, copy])
      const fh = await open(copy, 'r')
      await fh.datasync()
      await fh.close()
      cp.push((performance.now() - t0) / 1000)
      await rm(copy)
    },
    1000,
  )
  const machine = load.report()
  const L = stats(labvirt)
  const C = stats(cp)
  const mib = bytes / 2 ** 20
  const ratio = C.median / L.median
  // Per pair of runs: cp's time over LabVirt's, i.e. LabVirt's throughput over cp's.
  const pair = paired(cp, labvirt)
  console.log()
  console.log(`source: qcow2 of ${GIB} GiB virtual, ${DATA_MIB} MiB written, file ${fmt(mib, 0)} MiB; ${REPS} runs per side (ABBA)`)
  console.log(`LabVirt full clone (POST -> job succeeded)  median ${fmt(L.median, 2)} s  p90 ${fmt(L.p90, 2)} s  ${fmt(mib / L.median, 0)} MiB/s  distinct progress values seen ${fmt(stats(progressSeen).median, 0)}`)
  console.log(`cp --sparse=always + fdatasync of the copy   median ${fmt(C.median, 2)} s  p90 ${fmt(C.p90, 2)} s  ${fmt(mib / C.median, 0)} MiB/s`)
  console.log(`throughput ratio (LabVirt / cp, medians): ${fmt(ratio, 3)}  target >= 0.9: ${ratio >= 0.9 ? 'MET' : 'MISSED'}; paired ratio median ${fmt(pair.ratio.median, 3)}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  console.log(`saved ${await saveResult('clone', { reps: REPS, gib: GIB, dataMiB: DATA_MIB, bytes, machine, labvirt: L, cp: C, ratio, paired: pair, samples: { labvirt, cp, progressSeen } })}`)
  await server.stop()
  await cleanup()
})
