import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openKv, repositories, type Repositories } from '#storage'
import { identifyTerminal } from '#server/terminals/identify'
import { recordPending } from '#server/terminals/pending'
import { createTerminal } from '#server/terminals/index'
import { ForbiddenError } from '#server/errors'
import { SYSTEM } from '#server/events/index'

// Identification and the pending list on a real file store.

let dir: string
let store: Repositories

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-identify-'))
  store = repositories(await openKv({ dir }))
  await store.labs.create('aula', { name: 'aula', description: '', size: 1, max: 2, profiles: ['p'], macBase: '52:54:00:01:02:00', network: { mode: 'user' } })
})
afterEach(async () => {
  await store.kv.close()
  await rm(dir, { recursive: true, force: true })
})

const refused = (caller: { ip: string; mac?: string }) => expect(identifyTerminal(store, caller)).rejects.toBeInstanceOf(ForbiddenError)

describe('identifying a terminal', () => {
  it('by the MAC it names, else by address; both must match a terminal known by both', async () => {
    await createTerminal(store, SYSTEM, { name: 'by-ip', description: '', ip: '10.0.0.1', lab: 'aula', params: {} })
    await createTerminal(store, SYSTEM, { name: 'by-mac', description: '', mac: '52:54:00:aa:bb:01', lab: 'aula', params: {} })
    await createTerminal(store, SYSTEM, { name: 'by-both', description: '', ip: '10.0.0.7', mac: '52:54:00:aa:bb:07', lab: 'aula', params: {} })
    expect((await identifyTerminal(store, { ip: '10.0.0.1' })).id).toBe('by-ip')
    expect((await identifyTerminal(store, { ip: '10.0.0.1', mac: '52:54:00:aa:bb:01' })).id).toBe('by-mac')
    expect((await identifyTerminal(store, { ip: '10.0.0.9', mac: '52:54:00:aa:bb:01' })).id).toBe('by-mac')
    expect((await identifyTerminal(store, { ip: '10.0.0.7', mac: '52:54:00:aa:bb:07' })).id).toBe('by-both')
    await refused({ ip: '10.0.0.8', mac: '52:54:00:aa:bb:07' })
    await refused({ ip: '10.0.0.7' })
    // An unknown MAC from a known address is a new terminal, pending; not that address's.
    await refused({ ip: '10.0.0.1', mac: '52:54:00:aa:bb:99' })
    expect(await store.pending.get('52-54-00-aa-bb-99')).toMatchObject({ ip: '10.0.0.1' })
    await refused({ ip: '10.0.0.2' })
    expect((await store.pending.list()).map((p) => p.id).sort()).toEqual(['10-0-0-2', '52-54-00-aa-bb-99'])
  })

  it('a claim whose terminal no longer has the address identifies no one', async () => {
    await createTerminal(store, SYSTEM, { name: 'moved', description: '', ip: '10.0.0.3', lab: 'aula', params: {} })
    // The record changed behind the claim's back (as a crash between the two writes would leave it).
    await store.terminals.update('moved', undefined, (t) => ({ ...t, ip: '10.0.0.4' }))
    await refused({ ip: '10.0.0.3' })
  })
})

describe('pending terminals', () => {
  it('an unknown terminal is noted once a minute at most, keyed by its MAC or else its address', async () => {
    const t0 = Date.parse('2026-11-30T08:00:00Z')
    await recordPending(store, '10.0.0.5', undefined, t0)
    await recordPending(store, '10.0.0.5', undefined, t0 + 30_000)
    expect(await store.pending.get('10-0-0-5')).toMatchObject({ ip: '10.0.0.5', firstSeen: new Date(t0).toISOString(), lastSeen: new Date(t0).toISOString(), revision: 1 })
    await recordPending(store, '10.0.0.5', undefined, t0 + 61_000)
    expect(await store.pending.get('10-0-0-5')).toMatchObject({ firstSeen: new Date(t0).toISOString(), lastSeen: new Date(t0 + 61_000).toISOString() })
    await recordPending(store, '10.0.0.6', '52:54:00:aa:bb:02', t0)
    expect(await store.pending.get('52-54-00-aa-bb-02')).toMatchObject({ ip: '10.0.0.6', mac: '52:54:00:aa:bb:02' })
    // An address no terminal could be given (IPv6, no MAC) is not listed.
    await recordPending(store, '::1', undefined, t0)
    expect((await store.pending.list()).map((p) => p.id)).toEqual(['10-0-0-5', '52-54-00-aa-bb-02'])
  })

  it('a flood of unknown addresses evicts the oldest seen at the cap; known ones are still refreshed', async () => {
    const t0 = Date.now()
    for (let i = 0; i < 25; i++) await recordPending(store, `10.1.0.${i}`, undefined, t0 + i, 20)
    const ids = (await store.pending.list()).map((p) => p.id)
    expect(ids).toHaveLength(20)
    // The newest are listed (a real terminal that asked last among them), the first five went.
    expect(ids).toContain('10-1-0-24')
    expect(ids).not.toContain('10-1-0-4')
    await recordPending(store, '10.1.0.5', undefined, t0 + 61_000, 20)
    expect((await store.pending.get('10-1-0-5'))?.lastSeen).toBe(new Date(t0 + 61_000).toISOString())
    expect(await store.pending.list()).toHaveLength(20)
  })

  it('one address naming many MACs keeps only its latest few, and pushes no other address out', async () => {
    const t0 = Date.now()
    await recordPending(store, '10.2.0.1', '52:54:00:dd:00:ff', t0)
    for (let i = 0; i < 30; i++) await recordPending(store, '10.2.0.9', `52:54:00:dd:00:${i.toString(16).padStart(2, '0')}`, t0 + 1 + i, 1000, 4)
    const list = await store.pending.list()
    expect(list.filter((p) => p.ip === '10.2.0.9').map((p) => p.mac).sort()).toEqual(['52:54:00:dd:00:1a', '52:54:00:dd:00:1b', '52:54:00:dd:00:1c', '52:54:00:dd:00:1d'])
    expect(list.map((p) => p.id)).toContain('52-54-00-dd-00-ff')
  })
})
