/**
 * Slows down password guessing per client address: after FREE failures within WINDOW, each further
 * attempt must wait twice as long as the previous one (1 s, 2 s, 4 s, ... up to MAX). A success
 * clears the address. Kept in memory: per host, which is where the guessing lands.
 */
const FREE = 5
const WINDOW_MS = 15 * 60_000
const MAX_WAIT_MS = 5 * 60_000
const MAX_TRACKED = 10_000

interface Failures { count: number; last: number }

/**
 * What one guesser controls: an IPv4 address, or an IPv6 /64 (a client gets a whole /64 and can
 * pick any address in it, so counting single IPv6 addresses would never slow it down).
 */
export function throttleKey(address: string): string {
  if (!address.includes(':')) return address
  const [head = '', tail] = address.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`
}

export class LoginThrottle {
  private failures = new Map<string, Failures>()
  constructor(private now: () => number = Date.now) {}

  /** Milliseconds this address must still wait before it may try again (0: go ahead). */
  waitMs(address: string): number {
    address = throttleKey(address)
    const f = this.failures.get(address)
    if (!f) return 0
    const t = this.now()
    if (t - f.last > WINDOW_MS) {
      this.failures.delete(address)
      return 0
    }
    if (f.count < FREE) return 0
    const wait = Math.min(1000 * 2 ** (f.count - FREE), MAX_WAIT_MS)
    return Math.max(0, f.last + wait - t)
  }

  fail(address: string) {
    address = throttleKey(address)
    const f = this.failures.get(address)
    if (f) {
      f.count++
      f.last = this.now()
      return
    }
    if (this.failures.size >= MAX_TRACKED) this.prune()
    this.failures.set(address, { count: 1, last: this.now() })
  }

  succeed(address: string) {
    this.failures.delete(throttleKey(address))
  }

  private prune() {
    const t = this.now()
    for (const [a, f] of this.failures) if (t - f.last > WINDOW_MS) this.failures.delete(a)
    // Still full: forget the oldest rather than grow without bound.
    while (this.failures.size >= MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!)
  }
}

/** The one throttle of this process. */
export const loginThrottle = new LoginThrottle()
