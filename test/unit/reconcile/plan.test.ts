import { describe, expect, it } from 'vitest'
import { backoffMs, MAX_FAILURES, plan, type PlanInput, type VmMemory } from '#server/reconcile/plan'
import type { DesiredVm } from '#server/reconcile/desired'

const NOW = Date.parse('2026-11-24T08:00:00Z')
const hoursAgo = (h: number) => new Date(NOW - h * 3600_000).toISOString()

function vm(id: string, over: Partial<DesiredVm> = {}): DesiredVm {
  const snapshot = over.kind !== 'maintenance'
  return {
    id,
    kind: 'seat',
    profile: 'p',
    version: 1,
    hash: `h-${id}`,
    images: ['/img/base.qcow2'],
    restartPeriodHours: null,
    argv: [],
    spec: { name: id, uuid: '', memoryMiB: 64, cpus: 1, accel: 'tcg', disks: [{ path: '/img/base.qcow2', bus: 'ide', media: 'disk' }], snapshot, nic: null, runDir: '/run', extraArgs: [] },
    ...over,
  }
}

const running = (id: string, writable = false, pid = 100) => ({ id, pid, startedAt: hoursAgo(1), drives: [{ file: '/img/base.qcow2', writable }] })

function input(over: Partial<PlanInput>): PlanInput {
  return { desired: [], actual: [], memory: new Map(), held: new Set(), connected: new Set(), busy: new Set(), now: NOW, restartShare: 0.25, ...over }
}

const mem = (id: string, m: Partial<VmMemory>) => new Map([[id, { failures: 0, hash: `h-${id}`, ...m }]])
const summary = (i: PlanInput) => plan(i).map((a) => `${a.type} ${'vm' in a ? a.vm.id : a.id}${'reason' in a ? ` ${a.reason}` : ''}`)

describe('plan', () => {
  const cases: [string, PlanInput, string[]][] = [
    ['starts a desired VM that is not running', input({ desired: [vm('a-1')] }), ['start a-1']],
    ['leaves a running VM with the same hash alone', input({ desired: [vm('a-1')], actual: [running('a-1')], memory: mem('a-1', { startedAt: hoursAgo(1) }) }), []],
    ['stops a running VM that is no longer desired', input({ actual: [running('a-3')] }), ['stop a-3 undesired']],
    ['stops a running VM an admin holds down', input({ desired: [vm('a-1')], actual: [running('a-1')], held: new Set(['a-1']) }), ['stop a-1 held']],
    ['does not start a held VM', input({ desired: [vm('a-1')], held: new Set(['a-1']) }), []],
    ['leaves a VM with an operation under way alone', input({ desired: [vm('a-1')], actual: [running('a-2')], busy: new Set(['a-1', 'a-2']) }), []],
    ['restarts a seat whose command line changed', input({ desired: [vm('a-1')], actual: [running('a-1')], memory: mem('a-1', { hash: 'old' }) }), ['restart a-1 changed']],
    ['waits with a changed seat while a terminal is connected', input({ desired: [vm('a-1')], actual: [running('a-1')], memory: mem('a-1', { hash: 'old' }), connected: new Set(['a-1']) }), ['wait a-1 connected']],
    ['never restarts a maintenance VM for a change', input({ desired: [vm('p-maint', { kind: 'maintenance' })], actual: [running('p-maint', true)], memory: mem('p-maint', { hash: 'old' }) }), []],
    ['adopts a VM it has no memory of without restarting it', input({ desired: [vm('a-1')], actual: [running('a-1')] }), []],
    ['restarts a seat older than its restart period', input({ desired: [vm('a-1', { restartPeriodHours: 24 })], actual: [running('a-1')], memory: mem('a-1', { startedAt: hoursAgo(25) }) }), ['restart a-1 period']],
    ['keeps a seat younger than its restart period', input({ desired: [vm('a-1', { restartPeriodHours: 24 })], actual: [running('a-1')], memory: mem('a-1', { startedAt: hoursAgo(23) }) }), []],
    ['waits out the restart period while a terminal is connected', input({ desired: [vm('a-1', { restartPeriodHours: 24 })], actual: [running('a-1')], memory: mem('a-1', { startedAt: hoursAgo(25) }), connected: new Set(['a-1']) }), ['wait a-1 connected']],
    ['restarts a seat that stopped answering (the probe task\'s word)', input({ desired: [vm('a-1')], actual: [running('a-1')], memory: mem('a-1', {}), unhealthy: new Set(['a-1']) }), ['restart a-1 unhealthy']],
    ['only flags an unhealthy seat while a terminal is connected', input({ desired: [vm('a-1')], actual: [running('a-1')], memory: mem('a-1', {}), unhealthy: new Set(['a-1']), connected: new Set(['a-1']) }), ['wait a-1 connected']],
    ['never restarts a manual VM for its health', input({ desired: [vm('m', { kind: 'manual' })], actual: [running('m')], memory: mem('m', {}), unhealthy: new Set(['m']) }), []],
    ['backs off a VM that died young', input({ desired: [vm('a-1')], memory: mem('a-1', { failures: 2, retryAt: new Date(NOW + 1000).toISOString() }) }), ['wait a-1 backoff']],
    ['retries once the backoff is over', input({ desired: [vm('a-1')], memory: mem('a-1', { failures: 2, retryAt: new Date(NOW - 1).toISOString() }) }), ['start a-1']],
    ['gives up after MAX_FAILURES with the same command line', input({ desired: [vm('a-1')], memory: mem('a-1', { failures: MAX_FAILURES }) }), ['wait a-1 failed']],
    ['tries again when the command line changed after failing', input({ desired: [vm('a-1')], memory: mem('a-1', { failures: MAX_FAILURES, hash: 'old', retryAt: new Date(NOW + 60_000).toISOString() }) }), ['start a-1']],
    ['keeps a writable VM waiting while seats hold its disk', input({ desired: [vm('p-maint', { kind: 'maintenance' })], actual: [running('a-1')], busy: new Set(['a-1']) }), ['wait p-maint blocked']],
    ['keeps seats waiting while a writable VM holds their disk', input({ desired: [vm('a-1')], actual: [running('p-maint', true)], busy: new Set(['p-maint']) }), ['wait a-1 blocked']],
    ['lets snapshot seats share a disk', input({ desired: [vm('a-1'), vm('a-2')], actual: [running('a-1')], memory: mem('a-1', { startedAt: hoursAgo(1) }) }), ['start a-2']],
  ]
  it.each(cases)('%s', (_name, i, expected) => {
    expect(summary(i)).toEqual(expected)
  })
})

describe('plan: seats moving to a new version', () => {
  // Lab `a` on v2; seats started on v1 (hash h1), whose argv differs only by the version's file.
  const seat = (n: number, over: Partial<DesiredVm> = {}) => vm(`a-${n}`, { lab: 'a', seat: n, version: 2, hash: 'h2', hashOn: (n) => `h${n}`, moveNow: true, ...over })
  const lab = (size: number, over: Partial<DesiredVm> = {}) => Array.from({ length: size }, (_, i) => seat(i + 1, over))
  const onV1 = (ids: string[], m: Partial<VmMemory> = {}) => new Map(ids.map((id) => [id, { failures: 0, hash: 'h1', version: 1, startedAt: hoursAgo(1), ...m }]))
  const up = (ids: string[]) => ids.map((id, i) => running(id, false, 100 + i))
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `a-${i + 1}`)
  const cases: [string, PlanInput, string[]][] = [
    ['moves one seat of four at a time (25 %)', input({ desired: lab(4), actual: up(ids(4)), memory: onV1(ids(4)) }), ['restart a-1 version', 'wait a-2 share', 'wait a-3 share', 'wait a-4 share']],
    ['moves two of eight', input({ desired: lab(8), actual: up(ids(8)), memory: onV1(ids(8)) }), ['restart a-1 version', 'restart a-2 version', ...ids(8).slice(2).map((id) => `wait ${id} share`)]],
    ['moves at least one seat of a small lab', input({ desired: lab(2), actual: up(ids(2)), memory: onV1(ids(2)), restartShare: 0.1 }), ['restart a-1 version', 'wait a-2 share']],
    ['counts a seat being stopped as down', input({ desired: lab(4), actual: up(ids(4)), memory: onV1(ids(4)), busy: new Set(['a-1']) }), ['wait a-2 share', 'wait a-3 share', 'wait a-4 share']],
    ['counts a seat not running as down', input({ desired: lab(4), actual: up(ids(4).slice(1)), memory: onV1(ids(4)) }), ['start a-1', 'wait a-2 share', 'wait a-3 share', 'wait a-4 share']],
    ['does not count a held seat as down', input({ desired: lab(4), actual: up(ids(4).slice(1)), memory: onV1(ids(4)), held: new Set(['a-1']) }), ['restart a-2 version', 'wait a-3 share', 'wait a-4 share']],
    ['leaves a connected seat on its version, moving the next one', input({ desired: lab(4), actual: up(ids(4)), memory: onV1(ids(4)), connected: new Set(['a-1']) }), ['wait a-1 connected', 'restart a-2 version', 'wait a-3 share', 'wait a-4 share']],
    ['leaves a seat only behind alone without moveNow', input({ desired: lab(2, { moveNow: false }), actual: up(ids(2)), memory: onV1(ids(2)) }), []],
    ['moves a seat behind at its periodic restart even without moveNow', input({ desired: [seat(1, { moveNow: false, restartPeriodHours: 1 })], actual: up(['a-1']), memory: onV1(['a-1']) }), ['restart a-1 period']],
    ['restarts a seat whose command line changed otherwise as before, without the share', input({ desired: lab(2, { moveNow: false }), actual: up(ids(2)), memory: onV1(ids(2), { hash: 'other' }) }), ['restart a-1 changed', 'restart a-2 changed']],
    ['leaves seats on the current version alone', input({ desired: lab(2), actual: up(ids(2)), memory: onV1(ids(2), { hash: 'h2', version: 2 }) }), []],
  ]
  it.each(cases)('%s', (_name, i, expected) => {
    expect(summary(i)).toEqual(expected)
  })

  it('never has more of a lab down for moves than its share, pass after pass', () => {
    // Simulated passes: a restart takes the seat down for one pass, then it runs v2.
    const size = 8
    const state = new Map(ids(size).map((id) => [id, { version: 1, down: false }]))
    for (let pass = 0; pass < 20; pass++) {
      const actions = plan(input({
        desired: lab(size),
        actual: up(ids(size).filter((id) => !state.get(id)!.down)),
        memory: new Map([...state].map(([id, s]) => [id, { failures: 0, hash: `h${s.version}`, version: s.version, startedAt: hoursAgo(1) }])),
      }))
      for (const s of state.values()) if (s.down) Object.assign(s, { down: false, version: 2 })
      for (const a of actions) if (a.type === 'restart') state.get(a.vm.id)!.down = true
      expect([...state.values()].filter((s) => s.down).length).toBeLessThanOrEqual(2)
    }
    expect([...state.values()].every((s) => s.version === 2)).toBe(true)
  })
})

describe('plan: fresh seats (resetAfterSession)', () => {
  // Seats of lab `a` whose profile resets them 120 s after a session ends; they run since an hour ago.
  const GRACE_S = 120
  const seat = (n: number, over: Partial<DesiredVm> = {}) => vm(`a-${n}`, { lab: 'a', seat: n, resetAfterSessionSeconds: GRACE_S, ...over })
  const lab = (size: number, over: Partial<DesiredVm> = {}) => Array.from({ length: size }, (_, i) => seat(i + 1, over))
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `a-${i + 1}`)
  const up = (list: string[]) => list.map((id, i) => running(id, false, 100 + i))
  const memOf = (list: string[]) => new Map(list.map((id) => [id, { failures: 0, hash: `h-${id}`, startedAt: hoursAgo(1) }]))
  // A session that began half an hour ago (after the process started) and ended `s` seconds ago.
  const endedAgo = (list: string[], s: number, began = NOW - 1800_000) => new Map(list.map((id) => [id, { began, ended: NOW - s * 1000 }]))
  const fresh = (size: number, over: Partial<PlanInput> = {}, seatOver: Partial<DesiredVm> = {}) =>
    input({ desired: lab(size, seatOver), actual: up(ids(size)), memory: memOf(ids(size)), sessionEnds: endedAgo(ids(size), GRACE_S), ...over })
  const cases: [string, PlanInput, string[]][] = [
    ['restarts a seat whose session ended the grace ago, nobody on it', fresh(1), ['restart a-1 session']],
    ['keeps it within the grace (a quick reconnect keeps the session)', fresh(1, { sessionEnds: endedAgo(['a-1'], GRACE_S - 1) }), []],
    ['waits while somebody is back on it (the reconnect made a connection)', fresh(1, { connected: new Set(['a-1']) }), ['wait a-1 connected']],
    ['restarts at once with a grace of 0', fresh(1, { sessionEnds: endedAgo(['a-1'], 0) }, { resetAfterSessionSeconds: 0 }), ['restart a-1 session']],
    ['leaves a seat of a profile that does not reset alone', fresh(1, {}, { resetAfterSessionSeconds: undefined }), []],
    ['leaves a seat with no session ended alone', fresh(1, { sessionEnds: new Map() }), []],
    ['ignores a session that began before this process started (the one before a restart)', fresh(1, { sessionEnds: endedAgo(['a-1'], GRACE_S * 10, NOW - 2 * 3600_000) }), []],
    ['never resets a manual VM', input({ desired: [vm('m', { kind: 'manual', resetAfterSessionSeconds: 0 })], actual: [running('m')], memory: mem('m', {}), sessionEnds: endedAgo(['m'], 10) }), []],
    ['restarts no more of a lab at once than its share (the end of a class)', fresh(8), ['restart a-1 session', 'restart a-2 session', ...ids(8).slice(2).map((id) => `wait ${id} share`)]],
    ['counts seats already down against the share', fresh(4, { busy: new Set(['a-1']) }), ['wait a-2 share', 'wait a-3 share', 'wait a-4 share']],
    ['a changed seat restarts for its change, without the share', fresh(2, { memory: new Map(ids(2).map((id) => [id, { failures: 0, hash: 'old', startedAt: hoursAgo(1) }])) }), ['restart a-1 changed', 'restart a-2 changed']],
    ['an unhealthy seat restarts for its health', fresh(1, { unhealthy: new Set(['a-1']) }), ['restart a-1 unhealthy']],
  ]
  it.each(cases)('%s', (_name, i, expected) => {
    expect(summary(i)).toEqual(expected)
  })
})

describe('backoffMs', () => {
  it('restarts a first death at once, then doubles up to a minute', () => {
    expect([1, 2, 3, 4, 5, 10].map(backoffMs)).toEqual([0, 2000, 4000, 8000, 16000, 60000])
  })
})
