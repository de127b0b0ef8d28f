import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { claimUnique, openKv, releaseUnique, type Kv } from '#storage'

describe('unique claims', () => {
  let dir: string
  let kv: Kv
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-unique-'))
    kv = await openKv({ dir })
  })
  afterEach(async () => {
    await kv.close()
    await rm(dir, { recursive: true, force: true })
  })

  const holdsNothing = async () => false
  const holdsAll = async () => true

  it('lets exactly one of many concurrent claimants win', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => claimUnique(kv, 'lab-mac', '52:54:00:aa:bb:00', `lab${i}`, holdsAll)),
    )
    const winners = results.filter((r) => r.fresh)
    expect(winners).toHaveLength(1)
    const winner = `lab${results.indexOf(winners[0]!)}`
    expect(results.filter((r) => !r.fresh).every((r) => r.conflict === winner)).toBe(true)
  })

  it('a claim its owner already holds is not fresh, so a failed second write cannot give it back', async () => {
    expect(await claimUnique(kv, 'terminal-ip', '10.0.0.5', 'pc1', holdsAll)).toEqual({ conflict: null, fresh: true })
    expect(await claimUnique(kv, 'terminal-ip', '10.0.0.5', 'pc1', holdsAll)).toEqual({ conflict: null, fresh: false })
    expect(await claimUnique(kv, 'terminal-ip', '10.0.0.5', 'pc2', holdsAll)).toEqual({ conflict: 'pc1', fresh: false })
  })

  it('honours a young claim whose record is not written yet, takes over a stale one', async () => {
    const t0 = Date.parse('2026-11-24T08:00:00Z')
    await claimUnique(kv, 'terminal-ip', '10.0.0.6', 'pc1', holdsNothing, t0)
    expect((await claimUnique(kv, 'terminal-ip', '10.0.0.6', 'pc2', holdsNothing, t0 + 1000)).conflict).toBe('pc1')
    expect(await claimUnique(kv, 'terminal-ip', '10.0.0.6', 'pc2', holdsNothing, t0 + 61_000)).toEqual({ conflict: null, fresh: true })
  })

  it('is given back only by its owner', async () => {
    await claimUnique(kv, 'terminal-mac', '00:11:22:33:44:55', 'pc1', holdsAll)
    await releaseUnique(kv, 'terminal-mac', '00:11:22:33:44:55', 'pc2')
    expect((await claimUnique(kv, 'terminal-mac', '00:11:22:33:44:55', 'pc2', holdsAll)).conflict).toBe('pc1')
    await releaseUnique(kv, 'terminal-mac', '00:11:22:33:44:55', 'pc1')
    expect((await claimUnique(kv, 'terminal-mac', '00:11:22:33:44:55', 'pc2', holdsAll)).fresh).toBe(true)
  })
})
