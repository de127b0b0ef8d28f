// Diagnostic (not a benchmark): the steps of `vmAction(start)` (server/vms) timed one by one, in
// this process with the server's own Reconciler and file store (as in reconcile-tick), against the
// seat's argv spawned by hand in the same run (node spawn as startVm does, and execa), interleaved.
//
//   node bench/run.mjs diag-start-parts [--reps 30]
import { closeSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { Api, QEMU, cmdlineOf, mkdir, option, retarget, rm, row, runBench, sleep, spawnDaemon, startServer, tempDir, onCleanup, waitGone, readPid } from './lib'

const REPS = option('reps', 30)
const SEAT = 'parts-1'

runBench(async () => {
  const dataDir = await tempDir('lvb-')
  const handDir = await tempDir('lvh-')
  const handRun = join(handDir, 'run')
  await mkdir(handRun, { recursive: true })
  const server = await startServer(dataDir, { LABVIRT_RECONCILE: 'off' })
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('parts')
  await api.must('POST', '/api/labs', { name: 'parts', size: 1, profiles: [profile.id] })
  await server.stop()

  process.env.LABVIRT_DATA_DIR = dataDir
  process.env.LABVIRT_ACCEL = 'tcg'
  const { readConfig } = await import('#server/config')
  const { openKv, repositories } = await import('#storage')
  const { Reconciler } = await import('#server/reconcile/index')
  const { getVm } = await import('#server/vms/index')
  const { recordEvent } = await import('#server/events/index')
  const config = readConfig()
  const kv = await openKv({ url: undefined, dir: config.dataDir })
  const store = repositories(kv)
  const r = new Reconciler({ config, store })
  const ctx = { config, store }
  onCleanup(async () => {
    await r.stop()
    await kv.close()
  })
  await r.tick()
  const vm = await getVm(ctx, r, SEAT)
  if (!vm.pid) throw new Error(`seat not running: ${JSON.stringify(vm)}`)
  const argv = retarget(cmdlineOf(vm.pid), join(dataDir, 'run'), handRun)
  const actor = { username: 'admin' }
  const stop = async () => {
    await store.holds.create(SEAT, { by: 'admin' }).catch(() => {})
    await r.stopNow(SEAT, 'quit')
    await r.tick()
  }
  await stop()

  const t: Record<string, number[]> = {}
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now()
    const v = await fn()
    ;(t[name] ??= []).push(performance.now() - t0)
    return v
  }
  const handKill = async () => {
    const pid = await readPid(join(handRun, `${SEAT}.pid`))
    process.kill(pid, 'SIGTERM')
    await waitGone(pid)
    await rm(join(handRun, `${SEAT}.vnc`), { force: true })
  }
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now()
    await time('1 getVm (listVms: store + desired for all VMs)', () => getVm(ctx, r, SEAT))
    await time('2 holds.remove (fsync of the dir)', () => store.holds.remove(SEAT))
    await time('3 vms.update: failures reset (2 fsyncs)', () => store.vms.update(SEAT, undefined, (c) => ({ ...c, failures: 0, retryAt: undefined, error: undefined })))
    await time('4 recordEvent (2 fsyncs)', () => recordEvent(store, actor, 'start', 'VM', SEAT))
    const s = await time('5 reconciler.tick(): the pass that starts QEMU', () => r.tick())
    const after = await time('6 getVm again (the answer)', () => getVm(ctx, r, SEAT))
    ;(t['= all six (vmAction start, without HTTP)'] ??= []).push(performance.now() - t0)
    if (!s.started.includes(SEAT) || after.state !== 'running') throw new Error(`not started: ${JSON.stringify(s)} ${JSON.stringify(after)}`)
    await stop()
    await sleep(150)
    await time('by hand: node spawn -> parent exited', () => spawnDaemon(argv))
    await handKill()
    await sleep(150)
    await time('by hand: execa -> resolved', async () => {
      const fd = openSync(join(handRun, `${SEAT}.start-err`), 'w', 0o600)
      try {
        return await execa(QEMU, argv, { reject: false, timeout: 60_000, cleanup: false, stdin: 'ignore', stdout: 'ignore', stderr: fd as 3 })
      } finally {
        closeSync(fd)
      }
    })
    await handKill()
    await sleep(150)
  }
  for (const [k, v] of Object.entries(t)) console.log(row(k, v))
})
