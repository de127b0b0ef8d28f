import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Kv, openKv, repositories, type Repositories } from '#storage'
import { answerInputs, answerTerminal } from '#server/terminals/answer'
import { createTerminal } from '#server/terminals/index'
import { flushRenewals } from '#server/terminals/renewals'
import { readConfig } from '#server/config'
import { SYSTEM } from '#server/events/index'

// A terminal's answer on a real file store, asked again and again as in a boot storm: an answer
// kept for a terminal asking again must follow every change to what it was made from.

let dir: string
let kv: Kv
let store: Repositories
/** Keys read through the store since the last `reads.length = 0`. */
const reads: string[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-answer-'))
  kv = await openKv({ dir })
  store = repositories(watched(kv))
  await store.clients.create('rdp', { name: 'rdp', description: '', program: 'xfreerdp', args: ['/v:%HOST%:%PORT%', '/u:%USER%'] })
  await store.labs.create('aula', { name: 'aula', description: '', size: 2, max: 2, profiles: ['p'], client: 'rdp', macBase: '52:54:00:01:02:00', network: { mode: 'user', hostPort: 40000 } })
  for (const n of [1, 2]) await seat(n, 'running')
  await createTerminal(store, SYSTEM, { name: 'pc1', description: '', ip: '10.0.0.1', lab: 'aula', params: { USER: 'ana' } })
})
afterEach(async () => {
  await flushRenewals(store)
  await kv.close()
  await rm(dir, { recursive: true, force: true })
})

/** `kv` with its reads seen from outside (which collections an answer depends on), and `generation` as given. */
function watched(kv: Kv, generation?: Kv['generation']): Kv {
  return new Proxy(kv, {
    get(target, name) {
      if (name === 'generation' && generation) return generation
      const value = Reflect.get(target, name, target)
      if (name === 'peek' || name === 'get') return (key: string) => (reads.push(key), value.call(target, key))
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

const STARTED = new Date(Date.now() - 60_000).toISOString()
async function seat(n: number, state: 'running' | 'stopped') {
  const id = `aula-${n}`
  await store.vms.upsert(id, () => ({ id, kind: 'seat', lab: 'aula', seat: n, profile: 'p', state, host: 'h', failures: 0, startedAt: STARTED }))
  await store.readiness.upsert(id, () => (state === 'running' ? { startedAt: STARTED, ready: true, readySince: STARTED } : null))
}

const ctx = () => ({ config: readConfig({ LABVIRT_DATA_DIR: dir }), store })
const ask = () => answerTerminal(ctx(), { ip: '10.0.0.1' }, 'labvirt.example.edu')
const collectionsRead = () => [...new Set(reads.map((k) => k.slice(0, k.indexOf(':'))))].sort()

describe("a terminal's answer", () => {
  it('asked again with nothing changed, is the same without a read of the store', async () => {
    // The first answer gives the seat (written), the second finds it again and is kept.
    expect(await ask()).toMatchObject({ seat: 'aula-1', host: 'labvirt.example.edu', port: 40000, program: 'xfreerdp', argv: ['/v:labvirt.example.edu:40000', '/u:ana'] })
    reads.length = 0
    const first = await ask()
    // Every collection it read is one whose writes drop kept answers.
    expect(collectionsRead().filter((c) => !answerInputs(store).includes(c))).toEqual([])
    reads.length = 0
    expect(await ask()).toEqual(first)
    expect(reads).toEqual([])
  })

  it('follows a change to its terminal, its lab, its client and its seat at the next ask', async () => {
    await ask()
    await ask()
    await store.terminals.update('pc1', undefined, (t) => ({ ...t, params: { USER: 'bea' } }))
    expect((await ask()).argv).toEqual(['/v:labvirt.example.edu:40000', '/u:bea'])
    await store.clients.update('rdp', undefined, (c) => ({ ...c, args: ['/v:%HOST%:%PORT%', '/f'] }))
    expect((await ask()).argv).toEqual(['/v:labvirt.example.edu:40000', '/f'])
    await store.labs.update('aula', undefined, (l) => ({ ...l, network: { mode: 'user', hostPort: 41000 } }))
    expect((await ask()).port).toBe(41000)
    await seat(1, 'stopped')
    expect((await ask()).seat).toBe('aula-2')
  })

  it('is made afresh once its seat is due for renewal', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const t0 = Date.now()
      await ask()
      await ask()
      const due = t0 + ctx().config.heartbeatTimeoutMs / 3 + 1
      vi.setSystemTime(due)
      expect((await ask()).seat).toBe('aula-1')
      await flushRenewals(store)
      expect((await store.assignments.get('aula-1'))?.at).toBe(new Date(due).toISOString())
    } finally {
      vi.useRealTimers()
    }
  })

  it('is not kept on a store other hosts write to unseen', async () => {
    const shared = { config: readConfig({ LABVIRT_DATA_DIR: dir }), store: repositories(watched(kv, () => undefined)) }
    await answerTerminal(shared, { ip: '10.0.0.1' }, 'labvirt.example.edu')
    reads.length = 0
    expect((await answerTerminal(shared, { ip: '10.0.0.1' }, 'labvirt.example.edu')).seat).toBe('aula-1')
    expect(reads.length).toBeGreaterThan(0)
  })
})
