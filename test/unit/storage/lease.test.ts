import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { holdLease, openKv, type Kv } from '#storage'

describe('leases', () => {
  let dir: string
  let kv: Kv
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-lease-'))
    kv = await openKv({ dir })
  })
  afterEach(async () => {
    await kv.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('one holder at a time; renewed by its holder; taken over once it expires', async () => {
    const t = 1_000_000
    const race = await Promise.all(['a', 'b', 'c'].map((h) => holdLease(kv, 'reconciler', h, 20_000, t)))
    expect(race.filter(Boolean)).toHaveLength(1)
    const holder = ['a', 'b', 'c'][race.indexOf(true)]!
    const other = holder === 'a' ? 'b' : 'a'
    expect(await holdLease(kv, 'reconciler', holder, 20_000, t + 15_000)).toBe(true)
    expect(await holdLease(kv, 'reconciler', other, 20_000, t + 30_000)).toBe(false) // renewed at +15 s
    expect(await holdLease(kv, 'reconciler', other, 20_000, t + 36_000)).toBe(true) // expired at +35 s
    expect(await holdLease(kv, 'reconciler', holder, 20_000, t + 37_000)).toBe(false)
  })
})
