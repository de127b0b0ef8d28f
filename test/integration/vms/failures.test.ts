import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QEMU } from '../../helpers/qemu'
import { backoffMs, MAX_FAILURES } from '#server/reconcile/plan'
import {
  action, brief, listVms, makeLab, processOf, seatsOf, startVmServer, type Vm, type VmWorld, waitFor,
} from './vm-helpers'

// A seat that cannot start is marked failed with the reason, backed off, and left alone in the end;
// the rest of the host keeps running. QEMU is a wrapper that logs every invocation and execs the
// real binary, so start attempts are counted where they happen.

const SAMPLE_MS = 10_000
/** Backoff 1, 2, 4, 8 s after each failure, then "failed" for good: at most 5 starts in 10 s. */
const MAX_ATTEMPTS = 5

let w: VmWorld
let tools: string
let log: string

beforeAll(async () => {
  tools = await mkdtemp(join(tmpdir(), 'labvirt-wrap-'))
  log = join(tools, 'qemu.log')
  const wrapper = join(tools, 'qemu')
  const real = (await execa('sh', ['-c', `command -v ${QEMU}`])).stdout.trim()
  await writeFile(log, '')
  await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`)
  await chmod(wrapper, 0o755)
  w = await startVmServer({ LABVIRT_QEMU: wrapper })
})
afterAll(async () => {
  await w?.dispose()
  if (tools) await rm(tools, { recursive: true, force: true })
})

/** How many times QEMU was invoked for `id` so far. */
async function invocations(id: string): Promise<number> {
  const lines = (await readFile(log, 'utf8')).split('\n')
  return lines.filter((l) => l.startsWith(`-name ${id} `)).length
}

/**
 * Samples GET /api/vms for `ms` and counts each seat's start attempts as the distinct `retryAt`
 * values it showed (every failed attempt sets a new one); also checks it never ran.
 */
async function attemptsOver(ids: string[], ms: number): Promise<Map<string, Set<string>>> {
  const seen = new Map(ids.map((id) => [id, new Set<string>()]))
  const until = Date.now() + ms
  while (Date.now() < until) {
    for (const vm of await listVms(w.api)) {
      if (!seen.has(vm.id)) continue
      expect(vm.state, `${vm.id} while failing`).toBe('failed')
      if (vm.retryAt) seen.get(vm.id)!.add(vm.retryAt)
    }
    await sleep(100)
  }
  return seen
}

describe('a profile whose VMs cannot start', () => {
  it('image file missing: its seats are failed naming the file, another lab runs, no restart loop', async () => {
    const good = await makeLab(w.api, 1, 'ok')
    const bad = await makeLab(w.api, 0, 'miss')
    const file = join(w.imagesDir, bad.image.file)
    await rm(file)
    const put = await w.api.get(`/api/labs/${bad.lab.id}`)
    expect((await w.api.put(`/api/labs/${bad.lab.id}`, { ...put.body, size: 2 })).status).toBe(200)
    const ids = [`${bad.lab.id}-1`, `${bad.lab.id}-2`]

    const failed = await waitFor('seats of the lab with a missing image failed', 10_000, async (see) => {
      const seats = seatsOf(await listVms(w.api), bad.lab.id)
      see(brief(seats))
      return seats.length === 2 && seats.every((s) => s.state === 'failed' && s.error) && seats
    })
    for (const s of failed) {
      expect(s.error, s.id).toBe(`Image file ${bad.image.file} is missing`)
      expect(s.pid, s.id).toBeUndefined()
    }
    // The reason is a message like any other: in the reader's language.
    const es = await fetch(`${w.server.url}/api/vms/${ids[0]}`, { headers: { cookie: w.api.cookie, 'accept-language': 'es' } })
    expect((await es.json()).error).toBe(`Falta el archivo de imagen ${bad.image.file}`)
    const goodSeat = await waitFor('the other lab\'s seat running', 15_000, async (see) => {
      const s = seatsOf(await listVms(w.api), good.lab.id)[0]
      see(s && brief([s]))
      return s?.state === 'running' && s.pid && processOf(w.runDir, s.id).length === 1 ? s : undefined
    })

    const attempts = await attemptsOver(ids, SAMPLE_MS)
    for (const id of ids) {
      const n = attempts.get(id)!.size
      expect(n, `${id}: start attempts in ${SAMPLE_MS} ms`).toBeGreaterThanOrEqual(1)
      expect(n, `${id}: start attempts in ${SAMPLE_MS} ms`).toBeLessThanOrEqual(MAX_ATTEMPTS)
      // A missing image is caught before QEMU is run at all.
      expect(await invocations(id), `${id}: QEMU invocations`).toBe(0)
      expect(processOf(w.runDir, id)).toEqual([])
    }
    // The healthy seat was never restarted meanwhile.
    expect(seatsOf(await listVms(w.api), good.lab.id)[0]!.pid).toBe(goodSeat.pid)
    expect(await invocations(goodSeat.id)).toBe(1)

    // The image comes back; an admin's start runs the seat at once, whatever the backoff said.
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M'])
    await action(w.api, ids[0]!, 'start')
    await waitFor(`${ids[0]} running after the image is back`, 10_000, async (see) => {
      const vm = (await listVms(w.api)).find((v) => v.id === ids[0])
      see(vm && brief([vm]))
      return vm?.state === 'running' && !vm.error
    })
  })

  it('QEMU refuses to start (not a qcow2 image): failed with QEMU\'s own message, backed off', async () => {
    const bad = await makeLab(w.api, 0, 'junk')
    // Not a qcow2 any more: QEMU itself fails to open it, the access check does not see it.
    await writeFile(join(w.imagesDir, bad.image.file), Buffer.alloc(1024 * 1024, 0x42))
    const put = await w.api.get(`/api/labs/${bad.lab.id}`)
    expect((await w.api.put(`/api/labs/${bad.lab.id}`, { ...put.body, size: 1 })).status).toBe(200)
    const id = `${bad.lab.id}-1`

    const vm: Vm = await waitFor(`${id} failed`, 10_000, async (see) => {
      const v = (await listVms(w.api)).find((x) => x.id === id)
      see(v && brief([v]))
      return v?.state === 'failed' && v.error ? v : undefined
    })
    // QEMU's stderr, which names the drive and the file.
    expect(vm.error).toMatch(/qemu-system|drive-ide0|qcow2/i)
    expect(vm.error).toContain(bad.image.file)

    const t0 = Date.now()
    const before = await invocations(id)
    const attempts = await attemptsOver([id], SAMPLE_MS)
    const during = (await invocations(id)) - before
    expect(attempts.get(id)!.size, 'distinct retryAt values').toBeLessThanOrEqual(MAX_ATTEMPTS)
    expect(during, `QEMU invocations for ${id} in ${Date.now() - t0} ms`).toBeLessThanOrEqual(MAX_ATTEMPTS)
    expect(await invocations(id), 'QEMU invocations in all').toBeLessThanOrEqual(MAX_ATTEMPTS + 1)
    // A retry may be under way at this instant (the QEMU that will fail): none may stay.
    await waitFor(`no QEMU left for ${id}`, 5_000, async (see) => {
      const left = processOf(w.runDir, id)
      see(left.map((p) => p.pid).join(','))
      return left.length === 0
    })
  })

  // Timing here is load-independent: each death's backoff is read from the status (failures,
  // retryAt) and checked against the kill time, and each restart against that retryAt.
  it('a seat that keeps dying young is restarted later and later, then marked failed and left alone', { timeout: 150_000 }, async () => {
    const { lab } = await makeLab(w.api, 1, 'die')
    const id = `${lab.id}-1`
    const vmNow = async () => (await listVms(w.api)).find((x) => x.id === id)
    const gaps: number[] = []
    let pid: number | undefined
    let killedAt = 0
    let retryAt = 0
    for (let n = 1; n <= MAX_FAILURES; n++) {
      const vm = await waitFor(`${id} running (start ${n})`, 30_000, async (see) => {
        const v = await vmNow()
        see(v && brief([v]))
        return v?.state === 'running' && v.pid && v.pid !== pid && processOf(w.runDir, id).some((p) => p.pid === v.pid) ? v : undefined
      }, 20)
      if (killedAt) gaps.push(Date.now() - killedAt)
      // Never before the backoff said (retryAt is set when the death is seen, after the kill).
      expect(Date.parse(vm.startedAt!), `start ${n} vs the retryAt of death ${n - 1}`).toBeGreaterThanOrEqual(retryAt - 1000)
      expect(Date.now()).toBeGreaterThanOrEqual(retryAt)
      // Deaths of a young VM are counted, whether or not they were backed off.
      expect(vm.failures, `failures counted at start ${n}`).toBe(n - 1)
      pid = vm.pid!
      process.kill(pid, 'SIGKILL')
      killedAt = Date.now()
      if (n === 1) continue
      const failed = await waitFor(`${id} backing off after death ${n}`, 10_000, async (see) => {
        const v = await vmNow()
        see(v && { ...v, retryAt: v.retryAt })
        return v?.state === 'failed' && v.failures === n && v.retryAt ? v : undefined
      }, 20)
      retryAt = Date.parse(failed.retryAt!)
      expect(retryAt - killedAt, `backoff after death ${n}`).toBeGreaterThanOrEqual(backoffMs(n))
      expect(failed.error).toBeTruthy()
    }

    // The fifth death in a row: failed for good, not started again even once its retryAt has passed.
    expect(await invocations(id)).toBe(MAX_FAILURES)
    const wait = Math.max(0, retryAt - Date.now()) + 2500
    await attemptsOver([id], wait)
    expect(await invocations(id), `QEMU invocations ${wait} ms after the fifth death`).toBe(MAX_FAILURES)
    expect(processOf(w.runDir, id)).toEqual([])
    expect((await vmNow())?.state).toBe('failed')

    // An admin's start forgives it.
    await action(w.api, id, 'start')
    await waitFor(`${id} running after start`, 10_000, async (see) => {
      const v = await vmNow()
      see(v && brief([v]))
      return v?.state === 'running' && !v.error && v.failures === 0
    })
  })
})

