import { describe, expect, it } from 'vitest'
import { type AddressInfo, createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bindProbe, lowestFreeBlock, placeForwards, PortBlockError, putReservation, reserveForwards } from '#server/network/ports'
import { openKv, repositories } from '#storage'

const range = { from: 20000, to: 20099 }
const userLab = (id: string, hostPort: number, max: number) => ({ id, max, network: { mode: 'user' as const, hostPort } })

describe('lowestFreeBlock', () => {
  it('takes the first gap big enough, in any order of taken blocks', () => {
    expect(lowestFreeBlock(range, 10, [])).toBe(20000)
    expect(lowestFreeBlock(range, 10, [{ from: 20005, to: 20009 }])).toBe(20010)
    expect(lowestFreeBlock(range, 5, [{ from: 20020, to: 20029 }, { from: 20000, to: 20009 }])).toBe(20010)
    expect(lowestFreeBlock(range, 11, [{ from: 20020, to: 20029 }, { from: 20000, to: 20009 }])).toBe(20030)
    expect(lowestFreeBlock(range, 100, [])).toBe(20000)
    expect(lowestFreeBlock(range, 101, [])).toBeUndefined()
    expect(lowestFreeBlock(range, 50, [{ from: 20040, to: 20060 }])).toBeUndefined()
  })
})

describe('placeForwards', () => {
  const others = [userLab('a', 20000, 4), { id: 'b', max: 50, network: { mode: 'bridge' as const } }, userLab('c', 20010, 5)]

  it('allocates the lowest block outside other user-mode labs\' blocks', () => {
    expect(placeForwards({ mode: 'user' }, 5, undefined, others, range)).toEqual({ mode: 'user', hostPort: 20004 })
    expect(placeForwards({ mode: 'user' }, 7, undefined, others, range)).toEqual({ mode: 'user', hostPort: 20015 })
  })

  it('keeps the block it had while it still fits, else moves', () => {
    expect(placeForwards({ mode: 'user' }, 4, { mode: 'user', hostPort: 20050 }, others, range)).toEqual({ mode: 'user', hostPort: 20050 })
    expect(placeForwards({ mode: 'user' }, 8, { mode: 'user', hostPort: 20004 }, others, range)).toEqual({ mode: 'user', hostPort: 20015 })
    expect(placeForwards({ mode: 'user' }, 4, { mode: 'bridge' }, others, range), 'switched to user mode').toEqual({ mode: 'user', hostPort: 20004 })
  })

  it('takes an explicit block anywhere it overlaps nobody, and names the lab it overlaps', () => {
    expect(placeForwards({ mode: 'user', hostPort: 40000 }, 4, undefined, others, range)).toEqual({ mode: 'user', hostPort: 40000 })
    const err = (() => { try { placeForwards({ mode: 'user', hostPort: 20012 }, 2, undefined, others, range) } catch (e) { return e } })() as PortBlockError
    expect(err).toBeInstanceOf(PortBlockError)
    expect(err.reason).toBe('overlap')
    expect(err.params).toMatchObject({ lab: 'c', from: 20012, to: 20013 })
    expect(() => placeForwards({ mode: 'user', hostPort: 65534 }, 4, undefined, [], range)).toThrow(expect.objectContaining({ reason: 'past-end' }))
  })

  it('leaves other modes alone, and says when the range is full', () => {
    expect(placeForwards({ mode: 'tap', bridge: 'br0' }, 4, undefined, others, range)).toEqual({ mode: 'tap', bridge: 'br0' })
    expect(() => placeForwards({ mode: 'user' }, 90, undefined, others, range)).toThrow(expect.objectContaining({ reason: 'exhausted' }))
  })
})

describe('reserveForwards (a real file store)', () => {
  const T0 = Date.parse('2026-11-30T08:00:00Z')

  it('reserves blocks that never overlap, and frees one whose lab was never written after a grace period', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-ports-'))
    const store = repositories(await openKv({ dir }))
    try {
      const reserve = async (lab: string, now: number) => (await reserveForwards(store, lab, { mode: 'user' }, 4, undefined, [], range, undefined, now)).network
      const ghost = await reserve('ghost', T0)
      const kept = await reserve('kept', T0 + 1000)
      expect([ghost.hostPort, kept.hostPort]).toEqual([20000, 20004])
      // 'ghost' crashed between reservation and write: 60 s on, its block goes to the next lab;
      // 'kept' (59.5 s old) still holds its own.
      expect((await reserve('next', T0 + 60_500)).hostPort).toBe(20000)
      // A lab that is deleted (no record) gives its block back at once.
      await putReservation(store, 'kept', undefined)
      expect((await reserve('after', T0 + 60_700)).hostPort).toBe(20004)
    } finally {
      await store.kv.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('reserveForwards with a bind probe (real sockets on loopback)', () => {
  it('moves a new block past a port another program listens on, and keeps a lab its own block', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-ports-'))
    const store = repositories(await openKv({ dir }))
    const other = createServer()
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    const taken = (other.address() as AddressInfo).port
    const near = { from: taken, to: taken + 40 }
    try {
      const placed = (await reserveForwards(store, 'fresh', { mode: 'user' }, 4, undefined, [], near, bindProbe('127.0.0.1'))).network
      expect(placed.mode === 'user' && placed.hostPort).toBeGreaterThan(taken)
      // The block a lab already has is held by its own seats: it is not probed away.
      const kept = (await reserveForwards(store, 'old', { mode: 'user' }, 4, { mode: 'user', hostPort: taken + 20 }, [], near, async () => [taken + 20])).network
      expect(kept).toEqual({ mode: 'user', hostPort: taken + 20 })
    } finally {
      other.close()
      await store.kv.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
