import { describe, expect, it } from 'vitest'
import { processFigures } from '#server/resources/figures'

describe('per-VM process figures', () => {
  it('reads CPU seconds and RSS from /proc, and nothing for a process that is gone', async () => {
    const before = await processFigures(process.pid)
    const end = Date.now() + 150
    while (Date.now() < end); // burn CPU so the figure must move
    const after = await processFigures(process.pid)
    expect(before!.rssBytes).toBeGreaterThan(1024 * 1024)
    expect(after!.cpuSeconds).toBeGreaterThan(before!.cpuSeconds)
    expect(await processFigures(2 ** 22 + 1)).toBeUndefined()
  })
})

describe('host figures', () => {
  it('reads CPU ticks, memory and network counters of this machine', async () => {
    const { hostCpuTicks, hostMemory, hostNetCounters, tapCounters } = await import('#server/resources/figures')
    const cpu = await hostCpuTicks()
    expect(cpu.total).toBeGreaterThan(cpu.busy)
    const mem = await hostMemory()
    expect(mem.total).toBeGreaterThan(mem.used)
    expect(mem.used).toBeGreaterThan(0)
    const net = await hostNetCounters()
    expect(net.rxBytes).toBeGreaterThanOrEqual(0)
    // Any interface has the counters a tap has; one that is gone has none.
    expect(await tapCounters('lo')).toEqual({ rxBytes: expect.any(Number), txBytes: expect.any(Number) })
    expect(await tapCounters('lv-gone0')).toBeUndefined()
  })
})
