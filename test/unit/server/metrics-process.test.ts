import { describe, expect, it } from 'vitest'
import { processFigures } from '#server/metrics/index'

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
