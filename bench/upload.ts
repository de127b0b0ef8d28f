// Upload throughput: an image's bytes over loopback into the images directory.
//
// LabVirt: `curl -T <file>` to `PUT /api/images/<id>/content` (application/octet-stream, the admin's
//   session cookie) on the built server: streamed to a temporary file, checked with qemu-img (a raw
//   disk here), renamed, the record written. The image is deleted after each run.
// Bare: the same curl to a bare Node server doing `pipeline(req, createWriteStream(...))` and
//   answering 201, its own node process like the server, writing to the same file system.
// Interleaved (ABBA), same run, page cache warm for the source file (it is read once first).
//
//   node bench/run.mjs upload [--reps 6] [--mib 1024]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { Api, cleanup, fmt, interleaved, MachineLoad, onCleanup, option, paired, runBench, saveResult, startServer, stats, tempDir } from './lib'

const REPS = option('reps', 6)
const MIB = option('mib', 1024)

/** A raw disk of `mib` MiB of random bytes (zero boot sector), so neither side meets holes. */
async function rawDisk(path: string, mib: number) {
  const fh = await open(path, 'w')
  const chunk = randomBytes(2 ** 20)
  try {
    for (let i = 0; i < mib; i++) {
      if (i === 0) chunk.fill(0, 0, 512)
      await fh.write(chunk, 0, chunk.length, i * 2 ** 20)
      if (i === 0) randomBytes(512).copy(chunk)
    }
  } finally {
    await fh.close()
  }
}

async function startBare(dir: string) {
  const code = `
    import { createServer } from 'node:http'
    import { createWriteStream } from 'node:fs'
    import { pipeline } from 'node:stream/promises'
    let n = 0
    const server = createServer(async (req, res) => {
      await pipeline(req, createWriteStream(${JSON.stringify(dir)} + '/bare-' + n++ + '.img'))
      res.writeHead(201, { 'content-type': 'application/json' }).end('{}')
    })
    server.requestTimeout = 0
    server.listen(0, '127.0.0.1', () => console.log(server.address().port))`
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  onCleanup(async () => void proc.kill('SIGKILL'))
  const port = await new Promise<string>((res, rej) => {
    proc.stdout!.once('data', (d) => res(String(d).trim()))
    proc.once('exit', (c) => rej(new Error(`bare server exited (${c})`)))
  })
  return `http://127.0.0.1:${port}/upload`
}

/** One curl upload; seconds from start to the answer read. */
async function curl(url: string, file: string, cookie?: string): Promise<number> {
  const t0 = performance.now()
  const r = await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, '-H', 'content-type: application/octet-stream', ...(cookie ? ['-H', `cookie: ${cookie}`] : []), url], { reject: false })
  const s = (performance.now() - t0) / 1000
  if (!['200', '201'].includes(r.stdout)) throw new Error(`curl ${url}: ${r.stdout} ${r.stderr}`)
  return s
}

runBench(async () => {
  const load = new MachineLoad()
  const dir = await tempDir('lvu-')
  const source = join(dir, 'source.img')
  await rawDisk(source, MIB)
  const bareDir = join(dir, 'bare')
  await execa('mkdir', ['-p', bareDir])
  const server = await startServer(join(dir, 'data'), { LABVIRT_RECONCILE: 'off' })
  const api = await new Api(server.url).login()
  const bare = await startBare(bareDir)
  await execa('cat', [source], { stdout: 'ignore' })

  let n = 0
  const labvirt: number[] = []
  const plain: number[] = []
  const labvirtOnce = async () => {
    const id = `up${n++}`
    labvirt.push(await curl(`${server.url}/api/images/${id}/content`, source, api.cookie))
    await api.must('DELETE', `/api/images/${id}`, undefined, [204])
  }
  const bareOnce = async () => {
    plain.push(await curl(bare, source))
    await rm(bareDir, { recursive: true, force: true })
    await execa('mkdir', ['-p', bareDir])
  }
  await labvirtOnce()
  await bareOnce()
  labvirt.length = plain.length = 0
  await interleaved(REPS, labvirtOnce, bareOnce, 500)
  const machine = load.report()

  const mibps = (xs: number[]) => xs.map((s) => MIB / s)
  const L = stats(mibps(labvirt))
  const B = stats(mibps(plain))
  const ratio = L.median / B.median
  const pair = paired(mibps(labvirt), mibps(plain))
  console.log()
  console.log(`${MIB} MiB raw disk, curl -T over loopback, ${REPS} runs per side (ABBA)`)
  console.log(`LabVirt PUT /api/images/:id/content  median ${fmt(L.median, 0)} MiB/s (min ${fmt(L.min, 0)}, max ${fmt(L.max, 0)})`)
  console.log(`bare pipeline(req, createWriteStream) median ${fmt(B.median, 0)} MiB/s (min ${fmt(B.min, 0)}, max ${fmt(B.max, 0)})`)
  console.log(`throughput ratio (LabVirt / bare, medians): ${fmt(ratio, 3)}  target >= 0.8: ${ratio >= 0.8 ? 'MET' : 'MISSED'}; paired ratio median ${fmt(pair.ratio.median, 3)}`)
  console.log(`machine: ${JSON.stringify(machine)}`)
  const file = await saveResult('upload', { reps: REPS, mib: MIB, machine, labvirt: L, bare: B, ratio, paired: pair, seconds: { labvirt, bare: plain } })
  console.log(`saved ${file}`)
  await cleanup()
})
