import { execa } from 'execa'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openKv, repositories, type Repositories } from '#storage'
import { readConfig } from '#server/config'
import type { Context } from '#server/context'
import { cleanVersions } from '#server/profiles/versions'
import type { Version } from '#schemas/versions'

// The versions clean-up on a real store and real qemu-img files: what it deletes, and what it
// keeps (the current version and the one before it, an image record's file, a file something is
// backed by, what a VM runs), and only after the grace.
describe('versions clean-up', () => {
  let dir: string
  let images: string
  let store: Repositories
  let ctx: Context
  const GRACE_S = 3600

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-clean-'))
    images = join(dir, 'images')
    await mkdir(images)
    store = repositories(await openKv({ dir }))
    ctx = { config: readConfig({ LABVIRT_DATA_DIR: dir, LABVIRT_VERSION_GRACE: String(GRACE_S), LABVIRT_ACCEL: 'tcg' }), store }
  })
  afterEach(async () => {
    await store.kv.close()
    await rm(dir, { recursive: true, force: true })
  })

  const qcow2 = (file: string, backing?: string) =>
    execa('qemu-img', ['create', '-q', '-f', 'qcow2', ...(backing ? ['-b', join(images, backing), '-F', 'qcow2'] : []), join(images, file), '16M'])
  const image = (name: string, file: string) => store.images.create(name, { name, description: '', file, format: 'qcow2', virtualSize: 16 << 20, actualSize: 0 })
  const v = (n: number, image: string, parent?: number): Version => ({ n, image, format: 'qcow2', createdAt: new Date().toISOString(), createdBy: 'admin', note: '', parent })

  it('deletes a version unused for the grace, keeping the current, the previous, image records, backing files and what a VM runs', async () => {
    for (const f of ['base.qcow2', 'p.v2.qcow2', 'p.v3.qcow2', 'p.v4.qcow2', 'p.v5.qcow2', 'p.v6.qcow2']) await qcow2(f)
    await image('base', 'base.qcow2')
    // A linked clone of v2.
    await qcow2('clone.qcow2', 'p.v2.qcow2')
    await image('clone', 'clone.qcow2')
    // v6 current, v5 before it; a seat still runs v4.
    await store.versions.create('p', { currentVersion: 6, moveNow: false, versions: [v(1, 'base.qcow2'), v(2, 'p.v2.qcow2', 1), v(3, 'p.v3.qcow2', 2), v(4, 'p.v4.qcow2', 3), v(5, 'p.v5.qcow2', 4), v(6, 'p.v6.qcow2', 5)] })
    await store.vms.create('a-1', { id: 'a-1', kind: 'seat', lab: 'a', seat: 1, profile: 'p', version: 4, state: 'running', pid: 4242, host: 'h', failures: 0 })

    const now = Date.now()
    expect(await cleanVersions(ctx, now), 'nothing before the grace').toEqual([])
    expect((await store.versions.get('p'))!.versions.map((x) => [x.n, !!x.unusedSince])).toEqual([[1, true], [2, false], [3, true], [4, false], [5, false], [6, false]])
    expect(await cleanVersions(ctx, now + (GRACE_S - 1) * 1000)).toEqual([])
    expect(await cleanVersions(ctx, now + GRACE_S * 1000)).toEqual(['p.v3.qcow2'])
    expect((await readdir(images)).sort()).toEqual(['base.qcow2', 'clone.qcow2', 'p.v2.qcow2', 'p.v4.qcow2', 'p.v5.qcow2', 'p.v6.qcow2'])
    expect((await store.versions.get('p'))!.versions.map((x) => x.n)).toEqual([1, 2, 4, 5, 6])
    const events = await store.events.records(await store.events.cursors())
    expect(events.find((e) => e.action === 'delete' && e.id === 'p.v3')).toMatchObject({ actor: 'system', kind: 'version' })

    // The clone and the seat go: v2 and v4 start their grace then, and go after it.
    await store.images.remove('clone')
    await store.vms.remove('a-1')
    const later = now + 2 * GRACE_S * 1000
    expect(await cleanVersions(ctx, later)).toEqual([])
    expect((await cleanVersions(ctx, later + GRACE_S * 1000)).sort()).toEqual(['p.v2.qcow2', 'p.v4.qcow2'])
    expect((await store.versions.get('p'))!.versions.map((x) => x.n)).toEqual([1, 5, 6])
  })
})
