import { describe, expect, it } from 'vitest'
import { readFlows } from '#server/network/conntrack'

// Needs root and the conntrack tool, so it runs with the integration tests (see the unit test for the rest).
describe('readFlows', () => {
  it("reads this namespace's table from the proc file, or with the conntrack tool when asked first", async () => {
    // Root here: both sources work (what they list is whatever this namespace tracks).
    expect((await readFlows())?.source).toBe('proc')
    expect((await readFlows('tool'))?.source).toBe('tool')
    expect((await readFlows(undefined, '/nonexistent/nf_conntrack'))?.source).toBe('tool')
  })
})
