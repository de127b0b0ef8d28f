import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Kv, openKv, repositories, type Repositories } from '#storage'
import { readConfig } from '#server/config'
import { MODEL_COLLECTIONS, Reconciler } from '#server/reconcile/index'

// Desired state on a real file store is computed once and shared until one of its inputs is
// written: it must follow every such write, and be computed afresh on a store without generations.

let dir: string
let kv: Kv
let store: Repositories
/** Collections read through the store since the last `reads.length = 0`. */
const reads: string[] = []

/** `kv` with its reads seen from outside, and `generation` as given. */
function watched(kv: Kv, generation?: Kv['generation']): Kv {
  const collection = (key: string) => key.split(':')[0]!
  return new Proxy(kv, {
    get(target, name) {
      if (name === 'generation' && generation) return generation
      const value = Reflect.get(target, name, target)
      if (name === 'keys' || name === 'get' || name === 'peek') return (key: string) => (reads.push(collection(key)), value.call(target, key))
      if (name === 'getMany') return (keys: string[]) => (reads.push(...keys.map(collection)), value.call(target, keys))
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

const FIELDS = { machine: 'pc', cpuModel: null, rtcLocalTime: false, usbTablet: false, sound: 'none', display: 'std', smbios: {}, firmware: 'bios', probe: 'rdp' } as const

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-desired-'))
  kv = await openKv({ dir })
  reads.length = 0
})
afterEach(async () => {
  await kv.close()
  await rm(dir, { recursive: true, force: true })
})

async function reconcilerOn(generation?: Kv['generation']) {
  store = repositories(watched(kv, generation))
  await store.images.create('win', { name: 'win', description: '', file: 'win.qcow2', format: 'qcow2', virtualSize: 1, actualSize: 1 })
  await store.profiles.create('p', { name: 'p', description: '', memoryMiB: 512, cpus: 1, nic: 'virtio', disks: [{ image: 'win', bus: 'ide', media: 'disk' }], ...FIELDS, extraArgs: [], active: true, restartPeriodHours: null })
  await store.labs.create('aula', { name: 'aula', description: '', size: 2, max: 4, profiles: ['p'], macBase: '52:54:00:01:02:00', network: { mode: 'user' } })
  return new Reconciler({ config: readConfig({ LABVIRT_HOST_ID: 'h', LABVIRT_DATA_DIR: dir }), store })
}

const ids = async (r: Reconciler) => (await r.desired()).vms.map((v) => v.id)

describe('desired state', () => {
  it('is computed once while its inputs stay as they are, and follows a write to any of them', async () => {
    const r = await reconcilerOn()
    reads.length = 0
    const first = await r.desired()
    expect(first.vms.map((v) => v.id)).toEqual(['aula-1', 'aula-2'])
    // Every collection it read is one whose writes make it compute again.
    expect([...new Set(reads)].filter((c) => !(MODEL_COLLECTIONS as readonly string[]).includes(c))).toEqual([])
    reads.length = 0
    expect(await r.desired()).toBe(first)
    expect(reads).toEqual([])
    // Writes elsewhere (a status, a hold) change nothing of it.
    await store.holds.create('aula-1', { by: 'admin' })
    await store.vms.upsert('aula-1', () => ({ id: 'aula-1', kind: 'seat', lab: 'aula', seat: 1, profile: 'p', state: 'stopped', host: 'h', failures: 0 }))
    expect(await r.desired()).toBe(first)
    await store.labs.update('aula', undefined, (l) => ({ ...l, size: 3 }))
    expect(await ids(r)).toEqual(['aula-1', 'aula-2', 'aula-3'])
    await store.profiles.update('p', undefined, (p) => ({ ...p, active: false }))
    expect(await ids(r)).toEqual([])
    await store.profiles.update('p', undefined, (p) => ({ ...p, active: true, memoryMiB: 1024 }))
    expect((await r.desired()).vms[0]!.argv.join(' ')).toContain('-m 1024')
    await store.manual.create('one-off', { name: 'one-off', profile: 'p', boot: 'c', snapshot: true })
    expect(await ids(r)).toContain('one-off')
  })

  it('is computed at every ask on a store other hosts write too (no generation)', async () => {
    const r = await reconcilerOn(() => undefined)
    const first = await r.desired()
    reads.length = 0
    const again = await r.desired()
    expect(again).not.toBe(first)
    expect(again.vms.map((v) => v.id)).toEqual(first.vms.map((v) => v.id))
    expect(reads).not.toEqual([])
  })
})
