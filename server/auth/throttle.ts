/**
 * Slows down password guessing: after FREE failures within WINDOW, each further attempt must wait
 * twice as long as the previous one (1 s, 2 s, 4 s, ... up to MAX). Failures count per client
 * address and per username, so neither many usernames from one address nor one username from many
 * addresses guesses fast. A success clears what that username failed from that address, and nothing
 * else: signing in as someone else in between does not reset the count of an attack. Kept in
 * memory: per host, which is where the guessing lands.
 */
const FREE = 5
const WINDOW_MS = 15 * 60_000
const MAX_WAIT_MS = 5 * 60_000
const MAX_TRACKED = 10_000

interface Failures {
  count: number
  last: number
  /** A refused attempt since the last failure was reported (the event log gets one per wait). */
  reported?: boolean
}

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

const keys = (address: string, username: string) => {
  const a = `a ${throttleKey(address)}`
  const u = `u ${username}`
  return { a, u, pair: `${a}\n${u}` }
}

export class LoginThrottle {
  private failures = new Map<string, Failures>()
  constructor(private now: () => number = Date.now) {}

  /** Milliseconds this address and username must still wait before they may try again (0: go ahead). */
  waitMs(address: string, username: string): number {
    const { a, u } = keys(address, username)
    return Math.max(this.waitOf(a), this.waitOf(u))
  }

  /**
   * The wait, and whether this refusal is the first since the last failure (so that a guesser
   * hammering through a wait is logged once, not once per attempt).
   */
  check(address: string, username: string): { waitMs: number; first: boolean } {
    const waitMs = this.waitMs(address, username)
    if (waitMs === 0) return { waitMs, first: false }
    const { a, u } = keys(address, username)
    const f = this.waitOf(a) > 0 ? this.failures.get(a)! : this.failures.get(u)!
    const first = !f.reported
    f.reported = true
    return { waitMs, first }
  }

  fail(address: string, username: string) {
    for (const key of Object.values(keys(address, username))) this.add(key, 1)
  }

  /** The failure counted ahead is confirmed: the wait runs from now, not from when the attempt began. */
  confirm(address: string, username: string) {
    for (const key of Object.values(keys(address, username))) {
      const f = this.failures.get(key)
      if (f) f.last = this.now()
    }
  }

  succeed(address: string, username: string) {
    const { a, u, pair } = keys(address, username)
    const n = this.failures.get(pair)?.count ?? 0
    this.failures.delete(pair)
    for (const key of [a, u]) {
      const f = this.failures.get(key)
      if (!f) continue
      f.count -= n
      if (f.count <= 0) this.failures.delete(key)
    }
  }

  private waitOf(key: string): number {
    const f = this.failures.get(key)
    if (!f) return 0
    const t = this.now()
    if (t - f.last > WINDOW_MS) {
      this.failures.delete(key)
      return 0
    }
    if (f.count < FREE) return 0
    const wait = Math.min(1000 * 2 ** (f.count - FREE), MAX_WAIT_MS)
    return Math.max(0, f.last + wait - t)
  }

  private add(key: string, n: number) {
    const f = this.failures.get(key)
    if (f && this.now() - f.last <= WINDOW_MS) {
      f.count += n
      f.last = this.now()
      f.reported = false
      return
    }
    if (!f && this.failures.size >= MAX_TRACKED) this.prune()
    this.failures.set(key, { count: n, last: this.now() })
  }

  private prune() {
    const t = this.now()
    for (const [k, f] of this.failures) if (t - f.last > WINDOW_MS) this.failures.delete(k)
    // Still full: forget the oldest rather than grow without bound.
    while (this.failures.size >= MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!)
  }
}

/** The one throttle of this process. */
export const loginThrottle = new LoginThrottle()
