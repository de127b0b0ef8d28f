import { describe, expect, it } from 'vitest'
import { LoginThrottle, throttleKey } from '#server/auth/throttle'

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
      expect(th.waitMs('10.0.0.1', 'admin'), `before failure ${i + 1}`).toBe(0)
      th.fail('10.0.0.1', 'admin')
    }
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(1000)
    c.advance(400)
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(600)
    c.advance(600)
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(0)
    th.fail('10.0.0.1', 'admin') // 6th
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(2000)
    c.advance(2000)
    th.fail('10.0.0.1', 'admin') // 7th
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(4000)
    c.advance(4000)
    th.fail('10.0.0.1', 'admin') // 8th
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(8000)
  })

  it('caps the wait at 5 minutes', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 40; i++) {
      th.fail('10.0.0.1', 'admin')
      c.advance(1)
    }
    expect(th.waitMs('10.0.0.1', 'admin')).toBeLessThanOrEqual(5 * 60_000)
    expect(th.waitMs('10.0.0.1', 'admin')).toBeGreaterThan(4 * 60_000)
  })

  it('keeps addresses apart, and usernames', () => {
    const th = new LoginThrottle(clock().now)
    for (let i = 0; i < 3; i++) th.fail('10.0.0.1', 'admin')
    for (let i = 0; i < 3; i++) th.fail('10.0.0.1', 'bob')
    expect(th.waitMs('10.0.0.1', 'carol')).toBeGreaterThan(0)
    expect(th.waitMs('10.0.0.2', 'carol')).toBe(0)
    expect(th.waitMs('::1', 'carol')).toBe(0)
  })

  it('counts one username across addresses', () => {
    const th = new LoginThrottle(clock().now)
    for (let i = 1; i <= 5; i++) th.fail(`10.0.0.${i}`, 'admin')
    expect(th.waitMs('10.0.0.99', 'admin')).toBe(1000)
    expect(th.waitMs('10.0.0.99', 'bob')).toBe(0)
  })

  it('a success from the address clears only what that username failed there', () => {
    const th = new LoginThrottle(clock().now)
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 4; i++) {
        if (th.waitMs('10.0.0.1', 'admin') > 0) break
        th.fail('10.0.0.1', 'admin')
      }
      th.fail('10.0.0.1', 'viewer')
      th.succeed('10.0.0.1', 'viewer')
    }
    expect(th.waitMs('10.0.0.1', 'admin')).toBeGreaterThan(0)
    // The viewer signing in again is still slowed down: the address is guessing.
    expect(th.waitMs('10.0.0.1', 'viewer')).toBeGreaterThan(0)
  })

  it('a confirmed failure starts its wait when confirmed', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 5; i++) th.fail('10.0.0.1', 'admin')
    c.advance(700)
    th.confirm('10.0.0.1', 'admin')
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(1000)
  })

  it('reports the first refusal of each wait only', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 5; i++) th.fail('10.0.0.1', 'admin')
    expect(th.check('10.0.0.1', 'admin')).toEqual({ waitMs: 1000, first: true })
    expect(th.check('10.0.0.1', 'admin')).toEqual({ waitMs: 1000, first: false })
    c.advance(1000)
    expect(th.check('10.0.0.1', 'admin')).toEqual({ waitMs: 0, first: false })
    th.fail('10.0.0.1', 'admin')
    expect(th.check('10.0.0.1', 'admin').first).toBe(true)
  })

  it('forgets an address after a success', () => {
    const th = new LoginThrottle(clock().now)
    for (let i = 0; i < 4; i++) th.fail('10.0.0.1', 'admin')
    th.succeed('10.0.0.1', 'admin')
    // The count starts again: 5 more failures are free.
    for (let i = 0; i < 5; i++) {
      expect(th.waitMs('10.0.0.1', 'admin')).toBe(0)
      th.fail('10.0.0.1', 'admin')
    }
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(1000)
  })

  it('forgets failures older than 15 minutes', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 10; i++) th.fail('10.0.0.1', 'admin')
    expect(th.waitMs('10.0.0.1', 'admin')).toBeGreaterThan(0)
    c.advance(15 * 60_000 + 1)
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(0)
    th.fail('10.0.0.1', 'admin')
    expect(th.waitMs('10.0.0.1', 'admin')).toBe(0) // one failure in a new window
  })

  it('stays bounded under a flood of addresses and still throttles a recent guesser', () => {
    const c = clock()
    const th = new LoginThrottle(c.now)
    for (let i = 0; i < 6; i++) th.fail('192.0.2.1', 'admin')
    for (let i = 0; i < 10_100; i++) {
      th.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `u${i}`)
    }
    expect((th as unknown as { failures: Map<string, unknown> }).failures.size).toBeLessThanOrEqual(10_000)
    // The newest addresses are still tracked.
    for (let i = 0; i < 5; i++) th.fail('10.255.255.255', 'admin')
    expect(th.waitMs('10.255.255.255', 'admin')).toBeGreaterThan(0)
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
    for (let i = 1; i <= 5; i++) t.fail(`2001:db8:1:2::${i}`, 'admin')
    expect(t.waitMs('2001:db8:1:2::99', 'bob')).toBeGreaterThan(0)
    expect(t.waitMs('2001:db8:1:3::1', 'bob')).toBe(0)
  })
})
