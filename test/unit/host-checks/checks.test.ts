import { mkdtempSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { latestChecks, runChecks, STALE_MS } from '#server/host-checks/index'
import { readConfig } from '#server/config'
import { openKv, repositories, type Repositories } from '#storage'
import type { Context } from '#server/context'

const dataDir = mkdtempSync(join(tmpdir(), 'host-checks-'))
const ctx = (diskReserveBytes: number, qemu = 'qemu-system-x86_64') =>
  ({ config: { dataDir, diskReserveBytes, qemu, hostId: 'h' }, store: { kv: { ping: async () => {} }, hostChecks: { upsert: async () => null } } }) as unknown as Context

describe('host checks', () => {
  it('disk is an error when free space is below the reserve, ok with a small reserve', async () => {
    const [full] = await runChecks(ctx(2 ** 60), ['disk'])
    expect(full).toMatchObject({ id: 'disk', ok: false, level: 'error' })
    const [fine] = await runChecks(ctx(1), ['disk'])
    expect(fine).toMatchObject({ id: 'disk', ok: true, level: 'ok' })
  })

  it('qemu is an error when the binary is missing', async () => {
    const [r] = await runChecks(ctx(1, '/nonexistent/qemu'), ['qemu'])
    expect(r).toMatchObject({ level: 'error', message: { params: { command: '/nonexistent/qemu' } } })
  })

  it('store is ok when it answers ping', async () => {
    const [r] = await runChecks(ctx(1), ['store'])
    expect(r!.level).toBe('ok')
  })
})

describe("every host's checks from the store", () => {
  let dir: string
  let store: Repositories
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'host-checks-store-'))
    store = repositories(await openKv({ dir }))
  })
  afterEach(async () => {
    await store.kv.close()
    await rm(dir, { recursive: true, force: true })
  })
  const config = () => readConfig({ LABVIRT_HOST_ID: 'here', LABVIRT_DATA_DIR: dir, LABVIRT_DISK_RESERVE: '1' })

  it("a run is recorded as this host's, kept beside its other checks; other hosts follow, stale once they stop writing", async () => {
    await runChecks({ config: config(), store }, ['store'])
    await runChecks({ config: config(), store }, ['disk'])
    expect((await store.hostChecks.get('here'))!.checks.map((c) => c.id)).toEqual(['disk', 'store'])
    const other = { id: 'store', ok: false, level: 'error' as const, message: { msgid: 'The store does not answer' }, checkedAt: new Date().toISOString() }
    await store.hostChecks.upsert('there', () => ({ checks: [other] }))

    const now = await latestChecks({ config: config(), store })
    expect(now.map((h) => [h.host, h.local, h.stale])).toEqual([['here', true, false], ['there', false, false]])
    // This host's minute checks that never ran were run for the answer (and recorded).
    expect(now[0]!.checks.map((c) => c.id)).toEqual(['disk', 'store', 'qemu', 'kvm', 'seats'])
    expect((await store.hostChecks.get('here'))!.checks).toHaveLength(5)
    expect(now[1]!.checks).toEqual([other])

    const later = await latestChecks({ config: config(), store }, Date.now() + STALE_MS + 1000)
    expect(later.map((h) => [h.host, h.stale])).toEqual([['here', false], ['there', true]])
  })
})
