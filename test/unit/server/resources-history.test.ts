import { describe, expect, it } from 'vitest'
import { History, Ring } from '#server/resources/ring'
import { tapOf } from '#server/qemu/cmdline'

describe('Ring', () => {
  it('keeps the last `capacity` samples, oldest first, and null for what was not measured', () => {
    const r = new Ring(3, 2)
    for (let i = 1; i <= 5; i++) r.push(i * 1000, [i, i === 4 ? NaN : -i])
    expect(r.length).toBe(3)
    expect(r.columns()).toEqual({ t: [3000, 4000, 5000], values: [[3, 4, 5], [-3, null, -5]] })
  })
})

describe('History', () => {
  it('stays within an hour at full resolution plus a day of 1-minute averages, however long it runs', () => {
    const h = new History(['cpu'], 5000)
    expect(h.capacity).toBe(720 + 1440)
    // Three days of 5 s samples.
    const start = Date.UTC(2026, 0, 1)
    for (let t = start; t < start + 3 * 86_400_000; t += 5000) h.add(t, [1])
    expect(h.size).toBe(h.capacity)
    expect(h.series('hour').t).toHaveLength(720)
    // The day's 1440 finished minutes, and the one still filling.
    expect(h.series('day').t).toHaveLength(1441)
  })

  it('averages each minute for the day, skipping what was not measured', () => {
    const h = new History(['cpu', 'net'], 20_000)
    const m = 60_000 * 1000
    h.add(m, [10, NaN])
    h.add(m + 20_000, [20, 4])
    h.add(m + 40_000, [30, 8])
    h.add(m + 60_000, [50, NaN])
    expect(h.series('day')).toEqual({ t: [m, m + 60_000], cpu: [20, 50], net: [6, null] })
    expect(h.series('hour').cpu).toEqual([10, 20, 30, 50])
  })
})

describe('tapOf', () => {
  it('finds a tap netdev\'s interface and nothing for user or bridge mode', () => {
    expect(tapOf(['qemu', '-netdev', 'tap,id=net0,ifname=lv-tap1,script=no,downscript=no'])).toBe('lv-tap1')
    expect(tapOf(['qemu', '-netdev', 'user,id=net0,hostfwd=tcp::1-:3389'])).toBeUndefined()
    expect(tapOf(['qemu', '-netdev', 'bridge,id=net0,br=br0'])).toBeUndefined()
    expect(tapOf(['qemu', '-netdev', 'tap,id=net0,ifname=../../etc'])).toBeUndefined()
  })
})
