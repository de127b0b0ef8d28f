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
  return { desired: [], actual: [], memory: new Map(), held: new Set(), connected: new Set(), busy: new Set(), now: NOW, ...over }
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

describe('backoffMs', () => {
  it('restarts a first death at once, then doubles up to a minute', () => {
    expect([1, 2, 3, 4, 5, 10].map(backoffMs)).toEqual([0, 2000, 4000, 8000, 16000, 60000])
  })
})
