// The dashboard with 500 seats in 25 labs, in Chromium (issue 10's benchmarks).
//
// 25 labs of 20 seats are created through the API; every seat's status is written `running`
// through the store layer (a Redis store shared with the server, reconcile off: 500 QEMU do not
// fit on this machine). Measured:
// - first full render: navigation start -> all 500 seat cards in the DOM (performance.now() in
//   the page, so sign-in is not counted; the session cookie is set before);
// - a burst of 500 status changes (every seat to `failed`, written to the store at once) -> the DOM
//   shows all 500 changed, timed from the first write; includes the live source's delay (a poll
//   every 2 s while GET /api/stream is missing);
// - long tasks (> 50 ms) during both, from a PerformanceObserver installed before the page loads;
// - the JavaScript loaded before sign-in, gzipped (what the sign-in page fetches).
//
//   node bench/run.mjs dashboard [--reps 5] [--labs 25] [--seats 20]
import { hostname } from 'node:os'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { Api, fmt, MachineLoad, option, onCleanup, runBench, saveResult, startServer, stats, tempDir } from './lib'
import { startRedis } from '../test/helpers/redis'
import { openKv, repositories } from '#storage'

const REPS = option('reps', 5)
const LABS = option('labs', 25)
const SEATS = option('seats', 20)
const TOTAL = LABS * SEATS
const SINGLES = option('singles', 10)

runBench(async () => {
  const load = new MachineLoad()
  const redis = await startRedis()
  onCleanup(() => redis.stop())
  const dataDir = await tempDir('lvd-')
  const server = await startServer(dataDir, { LABVIRT_RECONCILE: 'off', LABVIRT_STORE_URL: redis.url })
  const api = await new Api(server.url).login()
  const profile = await api.tinyProfile('dash')
  for (let i = 0; i < LABS; i++) await api.must('POST', '/api/labs', { name: `room${i}`, size: SEATS, profiles: [profile.id], network: { mode: 'user' } })

  const kv = await openKv({ url: redis.url, dir: dataDir })
  onCleanup(() => kv.close())
  const store = repositories(kv)
  const ids = Array.from({ length: TOTAL }, (_, n) => ({ lab: `room${Math.floor(n / SEATS)}`, seat: 1 + (n % SEATS) }))
  const startedAt = new Date().toISOString()
  await Promise.all(ids.map(({ lab, seat }) => {
    const id = `${lab}-${seat}`
    return store.vms.create(id, { id, kind: 'seat', lab, seat, profile: profile.id, state: 'running', host: hostname(), startedAt, failures: 0 })
  }))

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
  onCleanup(() => browser.close())

  // The JavaScript before sign-in: every script the sign-in page loads, gzipped as served.
  const pre = await browser.newPage()
  const scripts = new Set<string>()
  pre.on('response', (r) => r.request().resourceType() === 'script' && scripts.add(r.url()))
  await pre.goto(`${server.url}/sign-in`, { waitUntil: 'networkidle' })
  let preSignInGzip = 0
  for (const url of scripts) preSignInGzip += gzipSync(Buffer.from(await (await fetch(url)).arrayBuffer()), { level: 9 }).length
  await pre.close()
  console.log(`JavaScript before sign-in: ${scripts.size} files, ${fmt(preSignInGzip / 1024)} KB gzipped`)

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const [name, value] = api.cookie.split('=')
  await context.addCookies([{ name: name!, value: value!, url: server.url }])
  await context.addInitScript(() => {
    const w = window as unknown as { longTasks: number[] }
    w.longTasks = []
    new PerformanceObserver((list) => list.getEntries().forEach((e) => w.longTasks.push(e.duration))).observe({ type: 'longtask', buffered: true })
  })

  const render: number[] = []
  const burst: number[] = []
  const single: number[] = []
  const longRender: number[] = []
  const longBurst: number[] = []
  for (let rep = 0; rep < REPS; rep++) {
    const state = rep % 2 ? 'running' : 'failed'
    const page = await context.newPage()
    await page.goto(server.url)
    await page.waitForFunction((n) => document.querySelectorAll('.seat').length === n, TOTAL, { timeout: 30_000, polling: 'raf' })
    render.push(await page.evaluate(() => performance.now()))
    longRender.push(...(await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks.splice(0))))
    // The burst: every status changed at once, timed from the first write to the DOM showing all.
    const shown = state === 'failed' ? 'failed' : 'running'
    const done = page.waitForFunction(([n, s]) => document.querySelectorAll(`.seat[data-state="${s}"]`).length === n, [TOTAL, shown] as const, { timeout: 30_000, polling: 'raf' })
    const t0 = Date.now()
    await Promise.all(ids.map(({ lab, seat }) => store.vms.update(`${lab}-${seat}`, undefined, (cur) => ({ ...cur, state }))))
    await done
    burst.push(Date.now() - t0)
    // One change at a time: a seat's status written to the store -> its card shows it.
    for (let i = 0; i < SINGLES; i++) {
      const id = `${ids[i]!.lab}-${ids[i]!.seat}`
      const next = (await page.locator(`.seat[data-vm="${id}"]`).getAttribute('data-state')) === 'running' ? 'failed' : 'running'
      const seen = page.waitForFunction(([v, s]) => document.querySelector(`.seat[data-vm="${v}"]`)?.getAttribute('data-state') === s, [id, next] as const, { timeout: 30_000, polling: 'raf' })
      const t1 = Date.now()
      await store.vms.update(id, undefined, (cur) => ({ ...cur, state: next }))
      await seen
      single.push(Date.now() - t1)
    }
    longBurst.push(...(await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks.splice(0))))
    await page.close()
    console.log(`rep ${rep + 1}: first render ${fmt(render.at(-1)!)} ms, burst ${burst.at(-1)} ms`)
  }
  const result = {
    seats: TOTAL, labs: LABS, reps: REPS,
    firstRenderMs: stats(render), burstMs: stats(burst), singleChangeMs: stats(single),
    longTasksRenderMs: longRender, longTasksBurstMs: longBurst,
    preSignInJsGzipBytes: preSignInGzip, preSignInScripts: [...scripts].map((u) => new URL(u).pathname),
    load: load.report(),
  }
  console.log(`first render: median ${fmt(result.firstRenderMs.median)} ms, p90 ${fmt(result.firstRenderMs.p90)} ms`)
  console.log(`burst of ${TOTAL}: median ${fmt(result.burstMs.median)} ms, p90 ${fmt(result.burstMs.p90)} ms`)
  console.log(`one change -> DOM (${single.length}): median ${fmt(result.singleChangeMs.median)} ms, p95 ${fmt(result.singleChangeMs.p95)} ms  target p95 < 500 ms: ${result.singleChangeMs.p95 < 500 ? 'MET' : 'MISSED'}`)
  console.log(`long tasks: render max ${fmt(Math.max(0, ...longRender))} ms (${longRender.length}), burst max ${fmt(Math.max(0, ...longBurst))} ms (${longBurst.length})`)
  console.log(`saved ${await saveResult('dashboard', result)}`)
})
