import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openKv, repositories, type Repositories } from '#storage'
import { brokerSeat, releaseSeats, RETRY_AFTER_S } from '#server/terminals/broker'
import { flushRenewals, MAX_DELAY_MS } from '#server/terminals/renewals'
import { createTerminal, deleteTerminal, updateTerminal } from '#server/terminals/index'
import { UnavailableError } from '#server/errors'
import { SYSTEM } from '#server/events/index'
import type { VmState } from '#schemas/vms'
import { TerminalUpdate } from '#schemas/terminals'
import * as v from 'valibot'

// The seat broker on a real file store: the seats' states and the connections are records the
// reconciler and the connection watcher would write; time is passed in, so staleness is exact.

const TIMEOUT = 90_000
const T0 = Date.parse('2026-11-30T08:00:00Z')

let dir: string
let store: Repositories

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-broker-'))
  store = repositories(await openKv({ dir }))
  await store.labs.create('aula', { name: 'aula', description: '', size: 3, max: 4, profiles: ['p'], macBase: '52:54:00:01:02:00', network: { mode: 'user' } })
  for (const n of [1, 2, 3]) await seat(n, 'running')
})
afterEach(async () => {
  await flushRenewals(store)
  await store.kv.close()
  await rm(dir, { recursive: true, force: true })
})

const STARTED = new Date(T0 - 60_000).toISOString()

/** A seat in `state`; a running one answers on its port (the probe task's record) unless `answers` is false. */
async function seat(n: number, state: VmState, answers = true) {
  const id = `aula-${n}`
  await store.vms.upsert(id, () => ({ id, kind: 'seat', lab: 'aula', seat: n, profile: 'p', state, host: 'h', failures: 0, startedAt: STARTED }))
  await store.readiness.upsert(id, () => (state === 'running' ? { startedAt: STARTED, ready: answers, ...(answers ? { readySince: STARTED } : {}) } : null))
}

let ipCounter = 0
const terminal = (name: string, extra: { seat?: number } = {}) =>
  createTerminal(store, SYSTEM, { name, description: '', ip: `10.0.0.${++ipCounter}`, lab: 'aula', params: {}, ...extra })

const broker = async (name: string, now: number) => brokerSeat(store, (await store.terminals.get(name))!, (await store.labs.get('aula'))!, { timeoutMs: TIMEOUT, probing: true }, now)
const ask = async (name: string, now = T0) => (await broker(name, now)).seat
const refusal = async (name: string, now = T0) => {
  const err = await broker(name, now).then(() => null, (e) => e)
  expect(err).toBeInstanceOf(UnavailableError)
  expect(err.statusCode).toBe(503)
  expect(err.details).toEqual({ retryAfter: RETRY_AFTER_S })
  return err.msgid as string
}

describe('the seat broker', () => {
  it('gives the first running seat, and the same one again (sticky), even when a lower one frees', async () => {
    await seat(1, 'starting')
    await terminal('pc1')
    expect(await ask('pc1')).toBe(2)
    await seat(1, 'running')
    expect(await ask('pc1', T0 + 1000)).toBe(2)
    expect((await store.assignments.get('aula-2'))?.terminal).toBe('pc1')
  })

  it('never gives one seat to two terminals asking at once', async () => {
    for (let i = 1; i <= 6; i++) await terminal(`pc${i}`)
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => ask(`pc${i}`).catch((e) => e)))
    const seats = results.filter((r) => typeof r === 'number')
    expect(seats.sort()).toEqual([1, 2, 3])
    expect(results.filter((r) => r instanceof UnavailableError)).toHaveLength(3)
  })

  it('a seat stays held while its terminal asks or beats within the timeout, then goes to another', async () => {
    for (const n of ['a', 'b', 'c', 'd']) await terminal(n)
    expect([await ask('a'), await ask('b'), await ask('c')]).toEqual([1, 2, 3])
    expect(await refusal('d', T0 + TIMEOUT - 1)).toMatch(/in use/)
    // b beats late enough to stay; a and c go stale: d gets the first of theirs.
    await store.heartbeats.upsert('b', () => ({ terminal: 'b', seat: 'aula-2', state: 'connected', at: new Date(T0 + 60_000).toISOString() }))
    expect(await ask('d', T0 + TIMEOUT + 1)).toBe(1)
    // a comes back: its seat is d's now, so it gets c's, still stale.
    expect(await ask('a', T0 + TIMEOUT + 2)).toBe(3)
  })

  it('asking again renews the seat: after the answer while it holds with time to spare, before the answer otherwise', async () => {
    for (const n of ['a', 'b']) await terminal(n)
    expect(await ask('a')).toBe(1)
    const renewedAt = async () => (await store.assignments.get('aula-1'))?.at
    expect(await renewedAt()).toBe(new Date(T0).toISOString())
    // A third of the timeout on: answered at once, renewed right after.
    const t1 = T0 + TIMEOUT / 3 + 1
    expect(await ask('a', t1)).toBe(1)
    expect(await renewedAt()).toBe(new Date(T0).toISOString())
    await vi.waitFor(async () => expect(await renewedAt()).toBe(new Date(t1).toISOString()))
    // Held from the renewal on: b asking just past the first assignment's timeout does not get it.
    expect(await ask('b', T0 + TIMEOUT + 1)).toBe(2)
    // Too near the end for a renewal to wait: written before the answer.
    const t2 = t1 + TIMEOUT - MAX_DELAY_MS
    expect(await ask('a', t2)).toBe(1)
    expect(await renewedAt()).toBe(new Date(t2).toISOString())
  })

  it('a renewal still waiting when its terminal gives the seat up does not take it back', async () => {
    await terminal('pc1')
    expect(await ask('pc1')).toBe(1)
    expect(await ask('pc1', T0 + TIMEOUT / 2)).toBe(1)
    await releaseSeats(store, (await store.terminals.get('pc1'))!)
    await flushRenewals(store)
    expect(await store.assignments.get('aula-1')).toBeNull()
  })

  it('a terminal whose seat stops moves to a running one, and lets the old one go', async () => {
    await terminal('pc1')
    expect(await ask('pc1')).toBe(1)
    await seat(1, 'stopped')
    expect(await ask('pc1', T0 + 1000)).toBe(2)
    expect(await store.assignments.get('aula-1')).toBeNull()
  })

  it('skips a seat someone else is connected to, or that is pinned to another terminal', async () => {
    await store.connections.upsert('aula-1', () => ({ address: '10.9.9.9', since: new Date(T0).toISOString(), via: 'conntrack', consoles: 0, host: 'h' }))
    await terminal('pinned', { seat: 2 })
    await terminal('pc1')
    expect(await ask('pc1')).toBe(3)
  })

  it('a pinned terminal gets its seat whoever had it, and waits while it does not run', async () => {
    await terminal('pc1')
    expect(await ask('pc1')).toBe(1)
    await terminal('pinned', { seat: 1 })
    expect(await ask('pinned')).toBe(1)
    expect(await ask('pc1', T0 + 1000)).toBe(2)
    await seat(1, 'starting')
    expect(await refusal('pinned')).toMatch(/Seat \{seat\}/)
  })

  it('refuses two terminals pinned to one seat', async () => {
    await terminal('p1', { seat: 3 })
    await expect(terminal('p2', { seat: 3 })).rejects.toMatchObject({ statusCode: 409, params: { terminal: 'p1' } })
    // Moving the pin frees the seat for another.
    const p1 = (await store.terminals.get('p1'))!
    await updateTerminal(store, SYSTEM, 'p1', v.parse(TerminalUpdate, { ip: p1.ip, lab: 'aula', seat: 2, revision: p1.revision }))
    await terminal('p2', { seat: 3 })
  })

  it('no running seat: 503 with Retry-After', async () => {
    for (const n of [1, 2, 3]) await seat(n, 'starting')
    await terminal('pc1')
    expect(await refusal('pc1')).toMatch(/No seat/)
  })

  it('gives only seats whose service answers: a running seat still booting is skipped, or said to be starting', async () => {
    await seat(1, 'running', false)
    await terminal('pc1')
    expect(await ask('pc1')).toBe(2)
    // Its sticky seat stops answering: the terminal moves on rather than wait on a hung guest.
    await seat(2, 'running', false)
    expect(await ask('pc1', T0 + 1000)).toBe(3)
    await seat(3, 'running', false)
    expect(await refusal('pc1', T0 + 2000)).toMatch(/are starting/)
    await terminal('pinned', { seat: 1 })
    expect(await refusal('pinned')).toMatch(/Seat \{seat\} of lab "\{lab\}" is starting/)
    await seat(1, 'stopped')
    expect(await refusal('pinned')).toMatch(/Seat \{seat\} of lab "\{lab\}" is not running yet/)
  })

  it('a record of an earlier start of the seat says nothing about this one', async () => {
    await store.vms.upsert('aula-1', (cur) => ({ ...cur!, startedAt: new Date(T0).toISOString() }))
    await terminal('pc1')
    expect(await ask('pc1')).toBe(2)
  })

  it('with the probes off, a running seat is ready', async () => {
    for (const n of [1, 2, 3]) await seat(n, 'running', false)
    await terminal('pc1')
    const choice = await brokerSeat(store, (await store.terminals.get('pc1'))!, (await store.labs.get('aula'))!, { timeoutMs: TIMEOUT, probing: false }, T0)
    expect(choice.seat).toBe(1)
  })

  it('deleting a terminal frees its seat at once', async () => {
    await terminal('a')
    await terminal('b')
    await store.labs.update('aula', undefined, (l) => ({ ...l, size: 1 }))
    expect(await ask('a')).toBe(1)
    expect(await refusal('b')).toMatch(/in use/)
    await deleteTerminal(store, SYSTEM, 'a')
    expect(await ask('b')).toBe(1)
  })
})
