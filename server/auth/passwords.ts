import { N_ } from '#schemas/msgid'
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { UnavailableError } from '../errors'

// scrypt's recommended interactive cost: N=2^15, r=8, p=1 takes ~50 ms and 32 MiB here.
const N = 32768
const R = 8
const P = 1
const KEYLEN = 32
const MAXMEM = 64 * 1024 * 1024

/**
 * At most `limit` jobs at once; later callers wait their turn, and past `queue` waiting ones are
 * refused at once (503, Retry-After) rather than piling up.
 */
export class Slots {
  private active = 0
  private waiting: (() => void)[] = []
  constructor(private limit: number, private queue: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++
    else if (this.waiting.length >= this.queue) throw new UnavailableError(1, N_('Too many sign-ins at once; try again in a moment'))
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    try {
      return await job()
    } finally {
      // The slot passes straight to the next in line, if any.
      const next = this.waiting.shift()
      if (next) next()
      else this.active--
    }
  }
}

// scrypt runs on libuv's pool of 4 threads, which the file store's reads and writes share: two at
// once leave the other two to every other request, so a flood of logins slows logins only. A login
// waits in line (a burst of a class signing in is served, 50 ms each) and only a flood beyond the
// queue is told to come back.
const scryptSlots = new Slots(2, 64)

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return scryptSlots.run(
    () =>
      new Promise((resolve, reject) =>
        scrypt(password.normalize('NFKC'), salt, KEYLEN, { N: n, r, p, maxmem: MAXMEM }, (err, key) => (err ? reject(err) : resolve(key))),
      ),
  )
}

/** `scrypt$N$r$p$salt$hash`, base64: the parameters travel with the hash so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, N, R, P)
  return ['scrypt', N, R, P, salt.toString('base64'), key.toString('base64')].join('$')
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$')
  if (alg !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64')
  const key = await derive(password, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p))
  return key.length === expected.length && timingSafeEqual(key, expected)
}

/** A password for the first admin when none was given: 20 characters from a 62-letter alphabet. */
export function randomPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
  const bytes = randomBytes(20)
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('')
}
