import type { Kv } from './kv'

interface Claim {
  owner: string
  at: number
}

/** A claim younger than this is honoured even if its owner's record is not written yet. */
const GRACE_MS = 60_000

const PREFIX = 'unique'
const keyOf = (space: string, value: string) => `${PREFIX}:${space}:${value.toLowerCase().replace(/[^a-z0-9]/g, '-')}`

/**
 * A unique value (a lab's MAC base, a terminal's IP) claimed atomically before the record that
 * holds it is written, so two concurrent writers cannot both get it, on one host or many. A claim
 * whose owner no longer holds the value (a crash between claim and write, or a later change) is
 * stale and taken over. Returns the owner in the way (`conflict`), and whether this call took the
 * claim (`fresh`): only a fresh claim may be given back when the write fails, since a claim
 * `owner` already held belongs to its existing record.
 */
export async function claimUnique(
  kv: Kv,
  space: string,
  value: string,
  owner: string,
  ownerHolds: (owner: string) => Promise<boolean>,
  now = Date.now(),
): Promise<{ conflict: string | null; fresh: boolean }> {
  let result = { conflict: null as string | null, fresh: false }
  await kv.update<Claim>(keyOf(space, value), async (cur) => {
    if (cur?.owner === owner) {
      result = { conflict: null, fresh: false }
      return cur
    }
    if (cur && (now - cur.at < GRACE_MS || (await ownerHolds(cur.owner)))) {
      result = { conflict: cur.owner, fresh: false }
      return cur
    }
    result = { conflict: null, fresh: true }
    return { owner, at: now }
  })
  return result
}

/** Gives a value back, if `owner` still holds its claim. */
export async function releaseUnique(kv: Kv, space: string, value: string, owner: string) {
  await kv.update<Claim>(keyOf(space, value), (cur) => (cur?.owner === owner ? null : cur))
}

/** Who holds the claim on a value, if anyone: the caller checks that the owner's record still holds it. */
export async function uniqueOwner(kv: Kv, space: string, value: string): Promise<string | null> {
  return (await kv.peek<Claim>(keyOf(space, value)))?.owner ?? null
}

/** The unique claims of one store (what the repositories hand the domain: no raw key-value access). */
export class Claims {
  readonly prefix = PREFIX
  constructor(private kv: Kv) {}
  claim(space: string, value: string, owner: string, ownerHolds: (owner: string) => Promise<boolean>) {
    return claimUnique(this.kv, space, value, owner, ownerHolds)
  }
  release(space: string, value: string, owner: string) {
    return releaseUnique(this.kv, space, value, owner)
  }
  owner(space: string, value: string) {
    return uniqueOwner(this.kv, space, value)
  }
}
