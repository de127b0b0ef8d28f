import { setTimeout as sleep } from 'node:timers/promises'
import { rm, symlink } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedis, type TestRedis } from '../../helpers/redis'
import { listVms, makeLab, qemuProcesses, seatsOf, startVmServer, type VmWorld, waitFor } from './vm-helpers'

// Two hosts on one Redis store: until VMs are placed on hosts, exactly one of them (the holder of
// the reconciler's lease) runs the seats; the other serves the API and starts nothing.
describe('two hosts sharing a Redis store', () => {
  let redis: TestRedis
  let h1: VmWorld
  let h2: VmWorld
  beforeAll(async () => {
    redis = await startRedis()
    h1 = await startVmServer({ LABVIRT_STORE_URL: redis.url, LABVIRT_HOST_ID: 'host1' })
    h2 = await startVmServer({ LABVIRT_STORE_URL: redis.url, LABVIRT_HOST_ID: 'host2' })
    // Both see the same image files, as hosts on shared storage would.
    await rm(h2.imagesDir, { recursive: true, force: true })
    await symlink(h1.imagesDir, h2.imagesDir)
  })
  afterAll(async () => {
    await h2?.dispose()
    await h1?.dispose()
    await redis?.dispose()
  })

  it('never runs a seat twice', async () => {
    const { lab } = await makeLab(h1.api, 2, 'shared')
    await waitFor('both seats running', 20_000, async () => seatsOf(await listVms(h2.api), lab.id).filter((s) => s.state === 'running').length === 2)
    for (let i = 0; i < 8; i++) {
      const counts = [qemuProcesses(h1.runDir).length, qemuProcesses(h2.runDir).length]
      expect(counts.reduce((a, b) => a + b), `QEMU on host1, host2: ${counts}`).toBe(2)
      expect(counts, 'all on one host').toContain(0)
      await sleep(500)
    }
  })
})
