import { describe, expect, it } from 'vitest'
import { sweepVersions, unusedVersions, versionFor } from '#server/profiles/version-model'
import type { ProfileVersions, Version } from '#schemas/versions'

const at = (h: number) => Date.parse('2026-12-01T00:00:00Z') + h * 3600_000
const iso = (h: number) => new Date(at(h)).toISOString()
const v = (n: number, parent?: number, over: Partial<Version> = {}): Version => ({ n, image: n === 1 ? 'base.qcow2' : `p.v${n}.qcow2`, format: 'qcow2', createdAt: iso(0), createdBy: 'admin', note: '', parent, ...over })
// v1 <- v2 <- v3 <- v4 (current), v5 from v4 as a canary.
const chain = (over: Partial<ProfileVersions> = {}): ProfileVersions => ({ currentVersion: 4, moveNow: false, versions: [v(1), v(2, 1), v(3, 2), v(4, 3), v(5, 4)], ...over })

describe('unusedVersions', () => {
  const cases: [string, ProfileVersions, number[], number[]][] = [
    ['keeps the current one and the one before it', chain(), [], [1, 2, 5]],
    ["keeps a canary's version", chain({ canary: { seat: 'a-1', version: 5 } }), [], [1, 2]],
    ['keeps what a VM runs, an overlay is on or a file is backed by', chain(), [1, 5], [2]],
    ['after a rollback, keeps the newer one only while used', chain({ currentVersion: 3 }), [4], [1, 5]],
    ['a profile at v1 has nothing to drop', { currentVersion: 1, moveNow: false, versions: [v(1)] }, [], []],
  ]
  it.each(cases)('%s', (_name, vs, inUse, expected) => {
    expect(unusedVersions(vs, new Set(inUse))).toEqual(expected)
  })
})

describe('sweepVersions', () => {
  const GRACE = 24 * 3600_000
  it('marks unused versions, drops them after the grace, never an image record, and forgives one used again', () => {
    const first = sweepVersions(chain(), new Set(), new Set(['base.qcow2']), at(1), GRACE)
    expect(first.dropped).toEqual([])
    expect(first.next.versions.map((x) => [x.n, x.unusedSince])).toEqual([[1, iso(1)], [2, iso(1)], [3, undefined], [4, undefined], [5, iso(1)]])
    // v5 comes back into use (a canary) before the grace ends.
    const later = sweepVersions({ ...first.next, canary: { seat: 'a-1', version: 5 } }, new Set(), new Set(['base.qcow2']), at(20), GRACE)
    expect(later.dropped).toEqual([])
    expect(later.next.versions.find((x) => x.n === 5)!.unusedSince).toBeUndefined()
    const after = sweepVersions(later.next, new Set(), new Set(['base.qcow2']), at(25), GRACE)
    expect(after.dropped.map((x) => x.n)).toEqual([2])
    expect(after.next.versions.map((x) => x.n)).toEqual([1, 3, 4, 5])
  })
})

describe('versionFor (the canary rule)', () => {
  it("the canary seat runs the canary's version, every other VM the current one", () => {
    const vs = chain({ canary: { seat: 'a-1', version: 5 } })
    expect(versionFor(vs, 'a-1')).toEqual({ version: v(5, 4), canary: true })
    expect(versionFor(vs, 'a-2')).toEqual({ version: v(4, 3), canary: false })
    expect(versionFor(chain(), 'a-1')).toEqual({ version: v(4, 3), canary: false })
  })

  it('a canary whose version is gone runs the current one', () => {
    expect(versionFor(chain({ canary: { seat: 'a-1', version: 9 } }), 'a-1')).toEqual({ version: v(4, 3), canary: false })
  })
})
