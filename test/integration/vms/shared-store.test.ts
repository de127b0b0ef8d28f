import { setTimeout as sleep } from 'node:timers/promises'
import { rm, symlink } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedis, type TestRedis } from '../../helpers/redis'
import { StreamReader } from '../../helpers/stream'
import { bodies, create } from '../../helpers/fixtures'
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

  it("one host's live stream hears of changes made through the other, and of the seats it runs", async () => {
    // Each host streams what the other does: whichever holds the lease runs the seats.
    const streams = await Promise.all([h1, h2].map((h) => StreamReader.open(h.server.url, h.api.cookie)))
    const s1 = streams[0]!.reader!
    const s2 = streams[1]!.reader!
    try {
      await s2.next('vms on host2', (e) => e.event === 'vms')
      const image = await create(h1.api, 'images', bodies.image())
      await s2.next('the image made through host1', (e) => e.event === 'change' && e.data.kind === 'images' && e.data.id === image.id, 10_000)
      await s2.next('its event-log entry', (e) => e.event === 'event' && e.data.id === image.id, 10_000)
      const { lab } = await makeLab(h2.api, 1, 'streamed')
      for (const s of [s1, s2]) {
        await s.next('the seat running, on either host', (e) => e.event === 'vm' && e.data.id === `${lab.id}-1` && e.data.state === 'running', 30_000)
      }
    } finally {
      s1.close()
      s2.close()
    }
  })
})
