import { describe, expect, it } from 'vitest'
import type { VmStatus } from '#schemas/vms'
import type { DesiredVm } from '#server/reconcile/desired'
import { afterDeath, nextStatus, remember, type StatusInput } from '#server/reconcile/status'

const NOW = Date.parse('2026-11-24T08:00:00Z')
const ago = (ms: number) => new Date(NOW - ms).toISOString()
const inMs = (ms: number) => new Date(NOW + ms).toISOString()
const DIED = { msgid: 'QEMU exited without a message (killed?)' }
const REFUSED = { msgid: 'QEMU: {output}', params: { output: 'could not open disk' } }

function vm(over: Partial<DesiredVm> = {}): DesiredVm {
  return {
    id: 'a-1', kind: 'seat', lab: 'a', seat: 1, profile: 'p', version: 2, hash: 'h2', images: [], restartPeriodHours: null, argv: [],
    spec: { name: 'a-1', uuid: '', memoryMiB: 64, cpus: 1, accel: 'tcg', disks: [], snapshot: true, nic: null, runDir: '/run', extraArgs: [] },
    ...over,
  }
}

const status = (over: Partial<VmStatus> = {}): VmStatus => ({ id: 'a-1', kind: 'seat', lab: 'a', seat: 1, profile: 'p', host: 'h', state: 'running', failures: 0, ...over })

describe('afterDeath', () => {
  it.each([
    ['a young death adds one, backing off from the second', 2, ago(5_000), { failures: 3, retryAt: inMs(4000) }],
    ['the first young death retries at once', 0, ago(5_000), { failures: 1, retryAt: inMs(0) }],
    ['a VM that ran 30 s was healthy: it starts over at one', 4, ago(30_000), { failures: 1, retryAt: inMs(0) }],
    ['a VM with no start time died young', 1, undefined, { failures: 2, retryAt: inMs(2000) }],
  ])('%s', (_name, failures, startedAt, expected) => {
    expect(afterDeath(failures, startedAt, NOW)).toEqual(expected)
  })
})

describe('remember', () => {
  it('counts a death only for a running record that nothing accounts for', () => {
    const statuses = [
      status({ id: 'gone', startedAt: ago(1000), failures: 1, hash: 'x' }),
      status({ id: 'up' }),
      status({ id: 'ours' }),
      status({ id: 'off', state: 'stopped', failures: 2, retryAt: inMs(5) }),
    ]
    const { memory, died } = remember(statuses, new Set(['up', 'ours']), NOW)
    expect(died).toEqual(['gone'])
    expect(memory.get('gone')).toEqual({ hash: 'x', startedAt: ago(1000), failures: 2, retryAt: inMs(2000), state: 'running' })
    expect(memory.get('off')).toEqual({ hash: undefined, startedAt: undefined, failures: 2, retryAt: inMs(5), state: 'stopped' })
    expect(memory.get('up')?.failures).toBe(0)
  })
})

describe('nextStatus', () => {
  const base: StatusInput = { id: 'a-1', host: 'h', now: NOW, held: false }
  const started = { pid: 42, startedAt: ago(100) }
  const cases: [string, Partial<StatusInput>, Partial<VmStatus> | undefined][] = [
    ['no record for a VM neither desired, running nor busy', {}, undefined],
    ['a record while a stop is under way, even if no longer desired', { inflight: 'stopping', prev: status() }, { state: 'stopping', failures: 0 }],
    ['just started: running, with the desired version and hash', { desired: vm(), started }, { state: 'running', qemuState: 'running', pid: 42, version: 2, hash: 'h2' }],
    ['adopted: keeps the version and hash it was started with', { desired: vm(), actual: started, prev: status({ version: 1, hash: 'h1' }), qemuState: 'paused' }, { state: 'running', qemuState: 'paused', pid: 42, version: 1, hash: 'h1' }],
    ['running young keeps its failures', { desired: vm(), actual: started, memory: { failures: 3 } }, { failures: 3 }],
    ['running 30 s forgives its failures', { desired: vm(), actual: { pid: 42, startedAt: ago(30_000) }, memory: { failures: 3 } }, { failures: 0 }],
    ['a failed start counts, backing off at least a second', { desired: vm(), started: { error: REFUSED }, memory: { failures: 0, hash: 'h2' } }, { state: 'failed', failures: 1, hash: 'h2', retryAt: inMs(1000), error: REFUSED }],
    ['a failed start on a changed config counts from one', { desired: vm(), started: { error: REFUSED }, memory: { failures: 4, hash: 'h1' } }, { state: 'failed', failures: 1, retryAt: inMs(1000) }],
    ['a third failed start backs off 4 s', { desired: vm(), started: { error: REFUSED }, memory: { failures: 2, hash: 'h2' } }, { failures: 3, retryAt: inMs(4000) }],
    ['a death: failed, with its reason as error and last exit', { desired: vm(), death: DIED, memory: { failures: 1, retryAt: inMs(0) } }, { state: 'failed', error: DIED, lastExit: { at: new Date(NOW).toISOString(), reason: DIED }, failures: 1 }],
    ['held with an error: stopped, error kept', { desired: vm(), held: true, death: DIED }, { state: 'stopped', error: DIED }],
    ['a desired-state problem is the error', { desired: vm(), problem: { msgid: 'No profile' } }, { state: 'failed', error: { msgid: 'No profile' } }],
    ['the last error stays while failures are counted', { desired: vm(), prev: status({ state: 'failed', error: REFUSED }), memory: { failures: 2 } }, { state: 'failed', error: REFUSED }],
    ['and goes once they are forgiven', { desired: vm(), prev: status({ state: 'failed', error: REFUSED }), memory: { failures: 0 } }, { state: 'stopped', error: undefined }],
    ['a manual VM keeps its kind from the record', { actual: started, prev: status({ kind: 'manual', lab: undefined, seat: undefined, profile: 'x' }) }, { kind: 'manual', profile: 'x', state: 'running' }],
  ]
  it.each(cases)('%s', (_name, over, expected) => {
    const next = nextStatus({ ...base, ...over })
    if (expected === undefined) expect(next).toBeUndefined()
    else expect(next).toMatchObject(expected)
  })
})
