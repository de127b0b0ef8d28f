import { describe, expect, it } from 'vitest'
import { LoginThrottle, throttleKey } from '../../../server/auth/throttle'

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}

describe('LoginThrottle', () => {
  it('lets the first 5 failures through, then asks for a wait that doubles with each failure', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 5; i++) {
      expect(th.waitMs('10.0.0.1'), `before failure ${i + 1}`).toBe(0)
      th.fail('10.0.0.1')
    }
    expect(th.waitMs('10.0.0.1')).toBe(1000)
    c.advance(400)
    expect(th.waitMs('10.0.0.1')).toBe(600)
    c.advance(600)
    expect(th.waitMs('10.0.0.1')).toBe(0)
    th.fail('10.0.0.1') // 6th
    expect(th.waitMs('10.0.0.1')).toBe(2000)
    c.advance(2000)
    th.fail('10.0.0.1') // 7th
    expect(th.waitMs('10.0.0.1')).toBe(4000)
    c.advance(4000)
    th.fail('10.0.0.1') // 8th
    expect(th.waitMs('10.0.0.1')).toBe(8000)
  })

  it('caps the wait at 5 minutes', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 40; i++) {
      th.fail('10.0.0.1')
      c.advance(1)
    }
    expect(th.waitMs('10.0.0.1')).toBeLessThanOrEqual(5 * 60_000)
    expect(th.waitMs('10.0.0.1')).toBeGreaterThan(4 * 60_000)
  })

  it('keeps addresses apart', () => {
    const th = new LoginThrottle(clock().now)
    for (let i = 0; i < 6; i++) th.fail('10.0.0.1')
    expect(th.waitMs('10.0.0.1')).toBeGreaterThan(0)
    expect(th.waitMs('10.0.0.2')).toBe(0)
    expect(th.waitMs('::1')).toBe(0)
  })

  it('forgets an address after a success', () => {
    const th = new LoginThrottle(clock().now)
    for (let i = 0; i < 4; i++) th.fail('10.0.0.1')
    th.succeed('10.0.0.1')
    // The count starts again: 5 more failures are free.
    for (let i = 0; i < 5; i++) {
      expect(th.waitMs('10.0.0.1')).toBe(0)
      th.fail('10.0.0.1')
    }
    expect(th.waitMs('10.0.0.1')).toBe(1000)
  })

  it('forgets failures older than 15 minutes', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 10; i++) th.fail('10.0.0.1')
    expect(th.waitMs('10.0.0.1')).toBeGreaterThan(0)
    c.advance(15 * 60_000 + 1)
    expect(th.waitMs('10.0.0.1')).toBe(0)
    th.fail('10.0.0.1')
    expect(th.waitMs('10.0.0.1')).toBe(0) // one failure in a new window
  })

  it('stays bounded under a flood of addresses and still throttles a recent guesser', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 6; i++) th.fail('192.0.2.1')
    for (let i = 0; i < 10_100; i++) {
      th.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
    }
    expect((th as unknown as { failures: Map<string, unknown> }).failures.size).toBeLessThanOrEqual(10_000)
    // The newest addresses are still tracked.
    for (let i = 0; i < 5; i++) th.fail('10.255.255.255')
    expect(th.waitMs('10.255.255.255')).toBeGreaterThan(0)
  })
})

describe('throttleKey', () => {
  it.each([
    ['10.0.5.7', '10.0.5.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8::5', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1:2:3:4', 'fe80:0:0:0::/64'],
  ])('%s -> %s', (address, key) => {
    expect(throttleKey(address)).toBe(key)
  })

  it('slows down a whole IPv6 /64, not one address', () => {
    const t = new LoginThrottle(() => 1_000_000)
    for (let i = 1; i <= 5; i++) t.fail(`2001:db8:1:2::${i}`)
    expect(t.waitMs('2001:db8:1:2::99')).toBeGreaterThan(0)
    expect(t.waitMs('2001:db8:1:3::1')).toBe(0)
  })
})
