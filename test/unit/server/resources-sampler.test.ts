import { describe, expect, it } from 'vitest'
import { Sampler } from '#server/resources/sampler'
import { listHosts } from '#server/resources/index'
import type { Context } from '#server/context'
import type { HostRecord } from '#schemas/resources'

/** Just what the sampler touches of a context: its settings and the store's `hosts`. */
function fakeContext() {
  const published: HostRecord[] = []
  const ctx = {
    config: { hostId: 'h1', dataDir: process.cwd(), sampleIntervalMs: 1000, monitoringUrl: 'https://grafana.example.edu/d/h1' },
    store: { hosts: { upsert: async (_id: string, change: () => HostRecord) => void published.push(change()) } },
  } as unknown as Context
  return { ctx, published }
}

describe('Sampler', () => {
  it('gives a VM CPU, RSS and disk rates from its second sample on, and publishes the host\'s figures each time', async () => {
    const { ctx, published } = fakeContext()
    let readBytes = 1000
    const qmp = { executeRaw: async () => [{ stats: { rd_bytes: readBytes, wr_bytes: 0, rd_operations: 1, wr_operations: 0 } }] }
    const sampler = new Sampler(ctx, { observe: async () => [{ id: 'vm1', pid: process.pid }], monitor: async () => qmp as never })
    const t = Date.UTC(2026, 0, 1)
    await sampler.sample(t)
    expect(sampler.vmSeries('vm1', 'hour').t).toEqual([])
    expect(sampler.vmSample('vm1')).toMatchObject({ pid: process.pid, disk: { readBytes: 1000 } })
    const end = Date.now() + 100
    while (Date.now() < end); // burn CPU so the figure must move
    readBytes = 3000
    await sampler.sample(t + 2000)
    const s = sampler.vmSeries('vm1', 'hour')
    expect(s.t).toEqual([t + 2000])
    expect(s.cpu[0]).toBeGreaterThan(0)
    expect(s.rss[0]).toBeGreaterThan(1024 * 1024)
    expect(s.diskRead).toEqual([1000])
    expect(s.netRx).toEqual([null])
    expect(published.map((p) => p.id)).toEqual(['h1', 'h1'])
    expect(published[1]!.figures).toMatchObject({ vms: 1, memory: { totalBytes: expect.any(Number) } })
    expect(published[1]!.monitoringUrl).toBe('https://grafana.example.edu/d/h1')
  })

  it('keeps a stopped VM\'s history but not its counters, and forgets it after a day', async () => {
    const { ctx } = fakeContext()
    let running = true
    const sampler = new Sampler(ctx, { observe: async () => (running ? [{ id: 'vm1', pid: process.pid }] : []), monitor: async () => undefined })
    const t = Date.UTC(2026, 0, 1)
    await sampler.sample(t)
    await sampler.sample(t + 1000)
    running = false
    await sampler.sample(t + 2000)
    expect(sampler.vmSample('vm1')).toBeUndefined()
    expect(sampler.vmSeries('vm1', 'hour').t).toHaveLength(1)
    await sampler.sample(t + 86_400_000 + 5000)
    expect(sampler.hasVm('vm1')).toBe(false)
  })
})

describe('listHosts', () => {
  const figures = (at: number) => ({ at: new Date(at).toISOString(), load: [0, 0, 0], cpuPercent: 1, memory: { usedBytes: 1, totalBytes: 2 }, diskFreeBytes: 3, net: null, vms: 0 })
  const ctxWith = (records: object[]) =>
    ({ config: { hostId: 'h1', sampleIntervalMs: 0 }, store: { hosts: { list: async () => records } } }) as unknown as Context

  it('shows a host stale once it missed three of its intervals (at least a minute), with its last figures', async () => {
    const now = Date.UTC(2026, 0, 1, 12)
    const sampler = { latestHost: undefined, hostSeries: () => ({ t: [] }) } as unknown as Sampler
    const hosts = await listHosts(ctxWith([
      { id: 'fresh', intervalMs: 5000, figures: figures(now - 59_000), revision: 3 },
      { id: 'late', intervalMs: 5000, figures: figures(now - 61_000) },
      { id: 'slow', intervalMs: 60_000, figures: figures(now - 170_000) },
      { id: 'gone', intervalMs: 60_000, figures: figures(now - 181_000) },
    ]), sampler, 'hour', now)
    expect(hosts.map((h) => [h.id, h.stale, h.local])).toEqual([
      // This host samples nothing (LABVIRT_SAMPLE_INTERVAL=off): listed first, without figures.
      ['h1', false, true], ['fresh', false, false], ['late', true, false], ['slow', false, false], ['gone', true, false],
    ])
    expect(hosts[0]!.figures).toBeNull()
    expect(hosts[1]).not.toHaveProperty('revision')
    expect(hosts.every((h) => h.history === null)).toBe(true)
  })
})
