import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createStorage } from 'unstorage'
import { atomicFsDriver, sweepTemporaryFiles, writeFileAtomic } from '#storage/fs-driver'
import { openKv, type Kv } from '#storage/kv'

// The file store's promise: a record on disk is always either the old or the new version, never a
// torn one. A crash between "write the temporary file" and "rename it over the record" leaves a
// `.tmp-*` file next to the old record; it must be invisible to readers and swept at the next open.

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labvirt-fsdrv-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name))
  }
  return out.sort()
}

const tmpFiles = async (dir: string) => (await allFiles(dir)).filter((f) => f.split('/').pop()!.startsWith('.tmp-'))

describe('writeFileAtomic', () => {
  it('writes the whole content, replaces an existing file and leaves no temporary file', async () => {
    const path = join(root, 'a', 'b', 'rec')
    await writeFileAtomic(path, '{"v":1}')
    expect(await readFile(path, 'utf8')).toBe('{"v":1}')
    // Without fsync too, its directories made on the way (and again once someone removed them).
    for (const at of [join(root, 'c', 'd', 'rec'), join(root, 'c', 'd', 'rec')]) {
      await writeFileAtomic(at, '{"v":3}', false)
      expect(await readFile(at, 'utf8')).toBe('{"v":3}')
      await rm(join(root, 'c'), { recursive: true })
    }
    const big = JSON.stringify({ v: 2, pad: 'x'.repeat(1 << 20) })
    await writeFileAtomic(path, big)
    expect(await readFile(path, 'utf8')).toBe(big)
    expect(await tmpFiles(root)).toEqual([])
    // Records may hold password hashes and session keys: owner-only.
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('leaves neither a temporary file nor a changed target when the rename fails', async () => {
    // A non-empty directory where the file should go: rename(2) fails (EISDIR/ENOTEMPTY).
    const path = join(root, 'rec')
    await mkdir(join(path, 'inner'), { recursive: true })
    await expect(writeFileAtomic(path, '{"v":1}')).rejects.toThrow()
    expect(await tmpFiles(root)).toEqual([])
    expect((await stat(path)).isDirectory()).toBe(true)
  })

  it('many concurrent writers of one file: the file ends as exactly one of the versions written', async () => {
    const path = join(root, 'rec')
    const versions = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, pad: String(i).repeat(5000) }))
    await Promise.all(versions.map((v) => writeFileAtomic(path, v)))
    expect(versions).toContain(await readFile(path, 'utf8'))
    expect(await tmpFiles(root)).toEqual([])
  })
})

describe('atomic fs driver through a Kv', () => {
  let kv: Kv | undefined
  afterEach(async () => {
    await kv?.close()
    kv = undefined
  })

  it('a write interrupted before its rename leaves the old record, hides the temporary file and sweeps it at open', async () => {
    const store = join(root, 'store')
    kv = await openKv({ dir: root })
    await kv.set('labs:a', { id: 'a', revision: 1 })
    await kv.set('labs:b', { id: 'b', revision: 1 })
    await kv.close()
    kv = undefined

    // What a crash mid-write leaves: the new version half-written in a temporary file beside the
    // record (and one more at the store's root and in an otherwise empty collection).
    await writeFile(join(store, 'labs', '.tmp-0123456789ab'), '{"id":"a","revision":2,"pad":"tor')
    await writeFile(join(store, '.tmp-ffffffffffff'), 'garbage')
    await mkdir(join(store, 'profiles'), { recursive: true })
    await writeFile(join(store, 'profiles', '.tmp-aaaaaaaaaaaa'), '')

    // Readers never see a temporary file, even before the sweep.
    const raw = createStorage({ driver: atomicFsDriver({ base: store }) })
    expect((await raw.getKeys('labs')).sort()).toEqual(['labs:a', 'labs:b'])
    expect(await raw.getKeys('profiles')).toEqual([])
    expect((await raw.getKeys()).sort()).toEqual(['labs:a', 'labs:b'])
    await raw.dispose()

    // Opening the store sweeps them; the records keep their last complete version.
    kv = await openKv({ dir: root })
    expect(await tmpFiles(store)).toEqual([])
    expect(await kv.keys('labs')).toEqual(['labs:a', 'labs:b'])
    expect(await kv.get('labs:a')).toEqual({ id: 'a', revision: 1 })
    for (const f of await allFiles(store)) expect(() => JSON.parse(readFileSync(f, 'utf8')), f).not.toThrow()
  })

  it('a reader never sees a half-written record while it is being rewritten', async () => {
    kv = await openKv({ dir: root })
    // Large enough that an in-place write (truncate, then write) would be caught in the middle.
    const big = (i: number) => ({ i, pad: 'x'.repeat(256 * 1024) })
    await kv.set('labs:big', big(0))
    let writing = true
    const writer = (async () => {
      for (let i = 1; i <= 40; i++) await kv!.set('labs:big', big(i))
      writing = false
    })()
    let reads = 0
    const seen = new Set<number>()
    while (writing) {
      // Straight from disk, so neither unstorage nor the Kv can mask a torn file.
      const text = await readFile(join(root, 'store', 'labs', 'big'), 'utf8')
      let rec: any
      expect(() => (rec = JSON.parse(text)), `read ${reads}: ${text.length} bytes`).not.toThrow()
      expect(rec.pad.length).toBe(256 * 1024)
      seen.add(rec.i)
      reads++
    }
    await writer
    expect(reads).toBeGreaterThan(5)
    expect(seen.size, 'the reader saw the record change').toBeGreaterThan(1)
  })

  it('writes each record as one JSON file under <dir>/store, one directory per collection', async () => {
    kv = await openKv({ dir: root })
    await kv.set('labs:room-1', { id: 'room-1', revision: 3 })
    expect(JSON.parse(await readFile(join(root, 'store', 'labs', 'room-1'), 'utf8'))).toEqual({ id: 'room-1', revision: 3 })
    await kv.remove('labs:room-1')
    expect(await kv.get('labs:room-1')).toBeNull()
    expect(await allFiles(join(root, 'store'))).toEqual([])
  })

  it('a delete is seen at once by readers and listings, and leaves no file once it resolves; a directory in the place of a record stays', async () => {
    const storage = createStorage({ driver: atomicFsDriver({ base: root }) })
    await storage.setItemRaw('holds:vm-1', '{"by":"admin"}')
    await storage.setItemRaw('holds:vm-2', '{"by":"admin"}')
    let seen: string[] | undefined
    await storage.removeItem('holds:vm-1', { visible: () => void (seen = readdirSync(join(root, 'holds'))) } as never)
    // When it was announced, the record's name was gone already (what is left is hidden and swept at open).
    expect(seen!.filter((f) => !f.startsWith('.tmp-'))).toEqual(['vm-2'])
    expect(await allFiles(root)).toEqual([join(root, 'holds', 'vm-2')])
    expect(await storage.getItemRaw('holds:vm-1')).toBeNull()
    await storage.removeItem('holds:vm-1')
    await mkdir(join(root, 'holds', 'vm-3'))
    await expect(storage.removeItem('holds:vm-3')).rejects.toThrow(/EISDIR/)
    expect((await stat(join(root, 'holds', 'vm-3'))).isDirectory()).toBe(true)
  })

  it('lists what its writes and deletes left, also when a write lands during a listing', async () => {
    kv = await openKv({ dir: root })
    await kv.set('labs:a', { id: 'a' })
    expect(await kv.keys('labs')).toEqual(['labs:a'])
    await kv.set('labs:c', { id: 'c' })
    await kv.set('profiles:p', { id: 'p' })
    await kv.remove('labs:a')
    expect(await kv.keys('labs')).toEqual(['labs:c'])
    // Listed while written: whatever that listing saw, the next one shows the writes.
    const [during] = await Promise.all([kv.keys('profiles'), kv.set('profiles:q', { id: 'q' }), kv.remove('profiles:p')])
    expect(during.every((k) => k === 'profiles:p' || k === 'profiles:q')).toBe(true)
    expect(await kv.keys('profiles')).toEqual(['profiles:q'])
    // What is on disk agrees, read by a Kv of its own after this one closed.
    await kv.close()
    kv = await openKv({ dir: root })
    expect([await kv.keys('labs'), await kv.keys('profiles')]).toEqual([['labs:c'], ['profiles:q']])
  })

  it('announces a write once readers see it, with the record and the listing showing it; a failed write is not announced', async () => {
    const store = (kv = await openKv({ dir: root }))
    await store.keys('labs')
    const heard: unknown[] = []
    store.changes.on('change', (c) => {
      // What a reconcile pass set off by the change reads: the file on disk and the listing.
      heard.push([c, readFileSync(join(root, 'store', 'labs', 'a'), 'utf8'), store.keys('labs')])
    })
    await store.set('labs:a', { id: 'a' })
    expect(heard).toHaveLength(1)
    const [[change, onDisk, listing]] = heard as [[unknown, string, Promise<string[]>]]
    expect(change).toEqual({ collection: 'labs', id: 'a', deleted: false })
    expect(JSON.parse(onDisk)).toEqual({ id: 'a' })
    expect(await listing).toEqual(['labs:a'])
    // A collection directory in the way of the record: the write fails and nothing is announced.
    await mkdir(join(root, 'store', 'profiles', 'p'), { recursive: true })
    await writeFile(join(root, 'store', 'profiles', 'p', 'x'), '{}')
    await expect(store.set('profiles:p', { id: 'p' })).rejects.toThrow()
    expect(heard).toHaveLength(1)
  })

  it('refuses keys that would leave the store or hide as a temporary file', async () => {
    const store = join(root, 'store')
    const driver = atomicFsDriver({ base: store })
    // Straight to the driver: its own guard, whatever unstorage normalizes before it.
    for (const key of ['labs:..:..:escape', '..:escape', 'labs:.', 'labs:.tmp-1234', '', ':::']) {
      await expect(Promise.resolve().then(() => driver.setItem!(key, '{}', {})), `setItem(${JSON.stringify(key)})`).rejects.toThrow(/invalid store key/)
      await expect(Promise.resolve().then(() => driver.getItem(key, {})), `getItem(${JSON.stringify(key)})`).rejects.toThrow(/invalid store key/)
    }
    // Through the Kv the repositories use.
    kv = await openKv({ dir: root })
    await expect(kv.set('labs:..:..:escape', { x: 1 })).rejects.toThrow()
    await expect(kv.set('..:escape', { x: 1 })).rejects.toThrow()
    await expect(kv.update('labs:..:x', () => ({ x: 1 }))).rejects.toThrow()
    // Nothing was written anywhere, inside the store or beside it (both keys would land in root).
    // (The open Kv holds the data dir's lock file, which is no record.)
    expect((await allFiles(root)).filter((f) => f !== join(root, 'labvirt.lock'))).toEqual([])
  })

  it('sweepTemporaryFiles keeps records and copes with a missing directory', async () => {
    await expect(sweepTemporaryFiles(join(root, 'nope'))).resolves.toBeUndefined()
    await mkdir(join(root, 's', 'x'), { recursive: true })
    await writeFile(join(root, 's', 'x', 'rec'), '{}')
    await writeFile(join(root, 's', 'x', '.tmp-1'), '{')
    await sweepTemporaryFiles(join(root, 's'))
    expect(await allFiles(join(root, 's'))).toEqual([join(root, 's', 'x', 'rec')])
  })
})

describe('collections written without fsync', () => {
  it('a VM status or a job left empty or torn by a power cut reads as absent; a torn lab is still an error', async () => {
    await mkdir(join(root, 'store', 'vms'), { recursive: true })
    await mkdir(join(root, 'store', 'labs'), { recursive: true })
    await writeFile(join(root, 'store', 'vms', 'aula-1'), '')
    await writeFile(join(root, 'store', 'vms', 'aula-2'), '{"id":"aula-2","sta')
    await writeFile(join(root, 'store', 'labs', 'aula'), '{"name":"au')
    const kv = await openKv({ dir: root })
    try {
      expect(await kv.get('vms:aula-1')).toBeNull()
      expect(await kv.get('vms:aula-2')).toBeNull()
      await expect(kv.get('labs:aula')).rejects.toThrow()
      // A job's progress is written without fsync (`durable: false`): a torn job reads as absent too.
      await kv.update('jobs:job-1', () => ({ id: 'job-1', progress: 40 }), { durable: false })
      expect(await kv.get('jobs:job-1')).toEqual({ id: 'job-1', progress: 40 })
      await writeFile(join(root, 'store', 'jobs', 'job-2'), '{"id":"jo')
      expect(await kv.get('jobs:job-2')).toBeNull()
      // Written again by the reconciler's next pass, as any record (on disk once the store closes at the latest).
      await kv.set('vms:aula-1', { id: 'aula-1', state: 'running' })
    } finally {
      await kv.close()
    }
    expect(JSON.parse(await readFile(join(root, 'store', 'vms', 'aula-1'), 'utf8'))).toEqual({ id: 'aula-1', state: 'running' })
  })

  it('a VM status is seen by readers, listings and the change signal at once, and reaches the disk after; the newest of each record wins', async () => {
    const file = (id: string) => join(root, 'store', 'vms', id)
    await mkdir(join(root, 'store', 'vms'), { recursive: true })
    await writeFile(file('gone'), '{"id":"gone"}')
    let kv = await openKv({ dir: root })
    const heard: string[] = []
    kv.changes.on('change', (c) => heard.push(`${c.id}${c.deleted ? ' deleted' : ''}`))
    await kv.set('vms:a', { id: 'a', v: 1 })
    // The writer went on before the file was written.
    expect(existsSync(file('a'))).toBe(false)
    await kv.set('vms:a', { id: 'a', v: 2 })
    await kv.set('vms:b', { id: 'b' })
    await kv.remove('vms:b')
    await kv.remove('vms:gone')
    expect(heard).toEqual(['a', 'a', 'b', 'b deleted', 'gone deleted'])
    expect(await kv.get('vms:a')).toEqual({ id: 'a', v: 2 })
    expect(await kv.get('vms:gone')).toBeNull()
    // The collection's first listing reads the directory: what is not on disk yet is in it, what is
    // still on disk but removed is not.
    expect(await kv.keys('vms')).toEqual(['vms:a'])
    await expect(kv.set('vms:..:escape', { id: 'x' })).rejects.toThrow()
    for (let i = 0; existsSync(file('gone')) || !existsSync(file('a')); i++) {
      expect(i, 'not on disk after 5 s').toBeLessThan(500)
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(JSON.parse(await readFile(file('a'), 'utf8'))).toEqual({ id: 'a', v: 2 })
    expect(existsSync(file('b'))).toBe(false)
    // Written again just before the store closes: on disk when close resolves.
    await kv.set('vms:c', { id: 'c' })
    await kv.close()
    expect(await allFiles(join(root, 'store'))).toEqual([file('a'), file('c')])
    kv = await openKv({ dir: root })
    try {
      expect(await kv.keys('vms')).toEqual(['vms:a', 'vms:c'])
    } finally {
      await kv.close()
    }
  })
})
