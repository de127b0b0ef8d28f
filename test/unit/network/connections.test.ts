import { describe, expect, it } from 'vitest'
import { addressesOf, connectionsFrom, type Observations, sightings, type Watched, watchedOf } from '#server/network/connections'
import type { Lab } from '#schemas/labs'
import type { Connection, Heartbeat } from '#schemas/terminal-api'

const NOW = Date.parse('2026-11-30T10:00:00Z')
const ago = (s: number) => new Date(NOW - s * 1000).toISOString()

const lab = (network: Lab['network'], ipBase?: string): Lab => ({ name: 'l', description: '', size: 2, max: 4, profiles: ['p'], macBase: '52:54:00:aa:bb:00', ipBase, network })
const bridged = lab({ mode: 'bridge', bridge: 'br0' }, '10.9.0.10')

// l-1 on a bridge at 10.9.0.11:3389, l-2 in user mode forwarded from host port 20001.
const WATCHED: Watched[] = [
  { vm: 'l-1', target: { via: 'conntrack', ip: '10.9.0.11', port: 3389 } },
  { vm: 'l-2', target: { via: 'socket', port: 20001 } },
]
const flow = (src: string, dst = '10.9.0.11', dport = 3389) => ({ src, sport: 40000, dst, dport })
const socket = (remote: string, port = 20001) => ({ localAddress: '127.0.0.1', localPort: port, remoteAddress: remote, remotePort: 40000 })
const beat = (terminal: string, seat: string, state: Heartbeat['state'], secondsAgo = 5): Heartbeat => ({ terminal, seat, state, at: ago(secondsAgo) })

function observe(o: Partial<Observations>) {
  return sightings(WATCHED, { flows: [], sockets: [], heartbeats: [], mode: 'auto', now: NOW, heartbeatTimeoutMs: 90_000, ...o })
}

/** The records for these observations, with terminal t1 at 10.9.0.50 and t2 at 10.9.0.51. */
function records(o: Partial<Observations>, extra: { consoles?: Record<string, number>; previous?: Record<string, Connection> } = {}) {
  const seen = observe(o)
  const names = new Map([['10.9.0.50', 't1'], ['10.9.0.51', 't2']].filter(([a]) => addressesOf(seen).includes(a!)) as [string, string][])
  const out = connectionsFrom({
    watched: WATCHED, seen, names, consoles: new Map(Object.entries(extra.consoles ?? {})),
    previous: new Map(Object.entries(extra.previous ?? {})), host: 'h1', now: NOW,
  })
  return Object.fromEntries(out)
}

const since = new Date(NOW).toISOString()

describe('who is connected', () => {
  it("a flow to a bridged seat's address and port: that terminal, seen by conntrack", () => {
    expect(records({ flows: [flow('10.9.0.50')] })).toEqual({ 'l-1': { terminal: 't1', address: '10.9.0.50', since, via: 'conntrack', consoles: 0, host: 'h1' } })
  })

  it('a flow from an address no terminal has: the address alone', () => {
    expect(records({ flows: [flow('10.9.0.77')] })['l-1']).toEqual({ address: '10.9.0.77', since, via: 'conntrack', consoles: 0, host: 'h1' })
  })

  it("flows to another port or another seat's address do not count", () => {
    expect(records({ flows: [flow('10.9.0.50', '10.9.0.11', 22), flow('10.9.0.50', '10.9.0.12')] })).toEqual({})
  })

  it("a user-mode seat: an established socket on its forwarded host port", () => {
    expect(records({ sockets: [socket('10.9.0.51'), socket('10.9.0.50', 20002)] })).toEqual({ 'l-2': { terminal: 't2', address: '10.9.0.51', since, via: 'socket', consoles: 0, host: 'h1' } })
  })

  it('without a readable tracking table, a fresh "connected" heartbeat naming the seat counts', () => {
    const heartbeats = [beat('t1', 'l-1', 'connected'), beat('t2', 'l-1', 'connected', 120), beat('t3', 'l-1', 'idle')]
    expect(records({ flows: undefined, heartbeats })).toEqual({ 'l-1': { terminal: 't1', since, via: 'heartbeat', consoles: 0, host: 'h1' } })
    // Stale (older than the timeout) or idle: nobody.
    expect(records({ flows: undefined, heartbeats: heartbeats.slice(1) })).toEqual({})
  })

  it('a readable table wins over heartbeats: an idle heartbeat does not hide a tracked flow, a connected one adds nothing', () => {
    const heartbeats = [beat('t1', 'l-1', 'idle', 1), beat('t2', 'l-2', 'connected')]
    expect(records({ flows: [flow('10.9.0.50')], heartbeats })).toEqual({ 'l-1': { terminal: 't1', address: '10.9.0.50', since, via: 'conntrack', consoles: 0, host: 'h1' } })
  })

  it('LABVIRT_CONNECTION_TRACKING=heartbeat ignores the tables; =conntrack never uses heartbeats', () => {
    const heartbeats = [beat('t2', 'l-2', 'connected')]
    expect(records({ mode: 'heartbeat', flows: [flow('10.9.0.50')], heartbeats })).toEqual({ 'l-2': { terminal: 't2', since, via: 'heartbeat', consoles: 0, host: 'h1' } })
    expect(records({ mode: 'conntrack', flows: undefined, heartbeats: [beat('t1', 'l-1', 'connected')] })).toEqual({})
    expect(records({ mode: 'off', flows: [flow('10.9.0.50')] })).toEqual({})
  })

  it('admin consoles alone keep a record, and add to a terminal', () => {
    expect(records({}, { consoles: { 'l-1': 1 } })).toEqual({ 'l-1': { since, via: 'console', consoles: 1, host: 'h1' } })
    expect(records({ sockets: [socket('10.9.0.50')] }, { consoles: { 'l-2': 2 } })['l-2']).toMatchObject({ terminal: 't1', consoles: 2 })
  })

  it('keeps `since` while the same terminal stays, starts it again for another one', () => {
    const before = { terminal: 't1', address: '10.9.0.50', since: ago(600), via: 'conntrack' as const, consoles: 0, host: 'h1' }
    expect(records({ flows: [flow('10.9.0.50')] }, { previous: { 'l-1': before } })['l-1']!.since).toBe(ago(600))
    expect(records({ flows: [flow('10.9.0.51')] }, { previous: { 'l-1': before } })['l-1']).toMatchObject({ terminal: 't2', since })
  })

  it('several on one seat: the one already shown stays, else a known terminal before a bare address', () => {
    const flows = [flow('10.9.0.77'), flow('10.9.0.51'), flow('10.9.0.50')]
    expect(records({ flows })['l-1']!.terminal).toBe('t1')
    const before = { terminal: 't2', address: '10.9.0.51', since: ago(60), via: 'conntrack' as const, consoles: 0, host: 'h1' }
    expect(records({ flows }, { previous: { 'l-1': before } })['l-1']).toMatchObject({ terminal: 't2', since: ago(60) })
  })
})

describe('watchedOf', () => {
  it("watches a bridged seat's address and port, a user seat's forwarded host port", () => {
    expect(watchedOf({ id: 'l-2', seat: 2 }, bridged)).toEqual({ vm: 'l-2', target: { via: 'conntrack', ip: '10.9.0.12', port: 3389 } })
    expect(watchedOf({ id: 'l-1', seat: 1 }, lab({ mode: 'tap', port: 5900 }, '10.9.0.10'))).toEqual({ vm: 'l-1', target: { via: 'conntrack', ip: '10.9.0.11', port: 5900 } })
    expect(watchedOf({ id: 'l-3', seat: 3 }, lab({ mode: 'user', hostPort: 20001 }))).toEqual({ vm: 'l-3', target: { via: 'socket', port: 20003 } })
  })

  it('has nothing to watch without an address, a forward, a seat or a lab', () => {
    expect(watchedOf({ id: 'l-1', seat: 1 }, lab({ mode: 'bridge' }))).toEqual({ vm: 'l-1' })
    expect(watchedOf({ id: 'l-1', seat: 1 }, lab({ mode: 'user' }))).toEqual({ vm: 'l-1' })
    expect(watchedOf({ id: 'p-maint' }, lab({ mode: 'tap' }, '10.9.0.10'))).toEqual({ vm: 'p-maint' })
    expect(watchedOf({ id: 'p-maint' }, lab({ mode: 'user', hostPort: 20001 }))).toEqual({ vm: 'p-maint' })
    expect(watchedOf({ id: 'x-1', seat: 1 }, undefined)).toEqual({ vm: 'x-1' })
  })
})
