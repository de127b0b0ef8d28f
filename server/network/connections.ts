import type { Context } from '../context'
import type { ConnectionTracking } from '../config'
import type { Lab } from '#schemas/labs'
import type { VmStatus } from '#schemas/vms'
import type { Connection, Heartbeat } from '#schemas/terminal-api'
import { seatEndpoint } from './endpoint'
import { type Flow, type FlowSource, readFlows } from './conntrack'
import { readSockets, type Socket } from './sockets'
import { probePorts } from './probe'

/** What shows that someone uses a VM: a flow to its address and port, or a socket on its forwarded host port. */
export type Target = { via: 'conntrack'; ip: string; port: number } | { via: 'socket'; port: number }

/** A VM this host runs, and where its users connect (none: a VM without an address, or user mode without a forward). */
export interface Watched {
  vm: string
  target?: Target
}

/** Everything observed in one poll. A source that cannot be read on this host is undefined. */
export interface Observations {
  flows?: Flow[]
  sockets?: Socket[]
  heartbeats: Heartbeat[]
  mode: ConnectionTracking
  now: number
  heartbeatTimeoutMs: number
}

/** Someone on a VM: a peer address seen by the host, or a terminal by its own (heartbeat) word. */
export type Sighting = { via: 'conntrack' | 'socket'; address: string } | { via: 'heartbeat'; terminal: string }

/**
 * Where a VM's users connect: a seat's endpoint. Other VMs (maintenance, manual) have none that a
 * terminal is given (no forward, no DHCP reservation): only their consoles are watched.
 */
export function watchedOf(status: Pick<VmStatus, 'id' | 'seat'>, lab: Lab | undefined): Watched {
  const end = lab && status.seat !== undefined ? seatEndpoint(lab, status.seat, '') : undefined
  if (!lab || !end) return { vm: status.id }
  return { vm: status.id, target: lab.network.mode === 'user' ? { via: 'socket', port: end.port } : { via: 'conntrack', ip: end.host, port: end.port } }
}

/**
 * Who is on each watched VM, by the rules of LABVIRT_CONNECTION_TRACKING. The host's own tables
 * (flows, sockets) decide whenever they can be read: they show the connection itself, while a
 * heartbeat is the launcher's word, sent every so often, so a fresh `idle` from a terminal whose
 * flow is still open (its client just restarted, or a late report) must not hide a real connection.
 * Heartbeats decide only for VMs whose table this host cannot read (`auto`), or always (`heartbeat`).
 */
export function sightings(watched: Watched[], o: Observations): Map<string, Sighting[]> {
  const out = new Map<string, Sighting[]>()
  if (o.mode === 'off') return out
  const fresh = o.heartbeats.filter((h) => h.state === 'connected' && h.seat && o.now - Date.parse(h.at) < o.heartbeatTimeoutMs)
  for (const w of watched) {
    const table = w.target?.via === 'conntrack' ? o.flows : w.target?.via === 'socket' ? o.sockets : undefined
    const useTable = o.mode !== 'heartbeat' && table !== undefined
    const useHeartbeats = o.mode === 'heartbeat' || (o.mode === 'auto' && !useTable)
    const seen: Sighting[] = []
    if (useTable && w.target?.via === 'conntrack') {
      const { ip, port } = w.target
      for (const f of o.flows!) if (f.dst === ip && f.dport === port) seen.push({ via: 'conntrack', address: f.src })
    } else if (useTable && w.target?.via === 'socket') {
      const { port } = w.target
      for (const s of o.sockets!) if (s.localPort === port) seen.push({ via: 'socket', address: s.remoteAddress })
    }
    if (useHeartbeats) for (const h of fresh) if (h.seat === w.vm) seen.push({ via: 'heartbeat', terminal: h.terminal })
    if (seen.length) out.set(w.vm, seen)
  }
  return out
}

/** The addresses whose terminal names are needed to tell who a sighting is. */
export const addressesOf = (seen: Map<string, Sighting[]>) =>
  [...new Set([...seen.values()].flat().flatMap((s) => ('address' in s ? [s.address] : [])))]

/**
 * The `connections` records this host should hold: one per watched VM with someone on it (a
 * terminal, an address, or only admin consoles). `since` is kept while the same terminal (or
 * address) stays; when several are on a VM, the one already shown stays shown.
 */
export function connectionsFrom(input: {
  watched: Watched[]
  seen: Map<string, Sighting[]>
  /** Terminal names by IP address. */
  names: Map<string, string>
  consoles: ReadonlyMap<string, number>
  previous: Map<string, Connection>
  host: string
  now: number
}): Map<string, Connection> {
  const out = new Map<string, Connection>()
  const since = new Date(input.now).toISOString()
  for (const { vm } of input.watched) {
    const consoles = input.consoles.get(vm) ?? 0
    const prev = input.previous.get(vm)
    const candidates = (input.seen.get(vm) ?? []).map((s) =>
      'address' in s ? { via: s.via, address: s.address, terminal: input.names.get(s.address) } : { via: s.via, terminal: s.terminal, address: undefined },
    )
    const key = (c: { terminal?: string; address?: string }) => c.terminal ?? c.address
    const pick = candidates.find((c) => prev && key(c) === key(prev))
      ?? candidates.filter((c) => c.terminal).sort((a, b) => key(a)!.localeCompare(key(b)!))[0]
      ?? candidates.sort((a, b) => key(a)!.localeCompare(key(b)!))[0]
    if (!pick && consoles === 0) continue
    const who = pick ?? { via: 'console' as const, terminal: undefined, address: undefined }
    out.set(vm, {
      ...(who.terminal !== undefined ? { terminal: who.terminal } : {}),
      ...(who.address !== undefined ? { address: who.address } : {}),
      since: prev && key(prev) === key(who) ? prev.since : since,
      via: who.via,
      consoles,
      host: input.host,
    })
  }
  return out
}

const same = (a: Connection, b: Connection) =>
  a.terminal === b.terminal && a.address === b.address && a.since === b.since && a.via === b.via && a.consoles === b.consoles && a.host === b.host

export interface WatcherDeps {
  /** Admin consoles open per VM (QMP VNC events, counted by the reconciler's monitors). */
  consoles: () => ReadonlyMap<string, number>
  /** Someone connected to or left a VM: the reconciler's plan (restarts wait for nobody) may change. */
  changed: () => void
  /** The id of the terminal known at this address, if any (the terminals domain owns that answer). */
  terminalAt: (ip: string) => Promise<string | undefined>
}

/** An unreadable tracking table is tried again after this long (a failing `conntrack` each poll is a waste). */
const RETRY_TABLE_MS = 60_000

/**
 * Watches who is connected to the VMs this host runs, every LABVIRT_CONNECTION_POLL, and keeps
 * their `connections` records: written when they change, removed when nobody is on a VM.
 */
export class ConnectionWatcher {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private flowSource: FlowSource | undefined
  private flowsRetryAt = 0
  private lastError = ''

  constructor(private ctx: Context, private deps: WatcherDeps) {}

  start() {
    this.timer = setInterval(() => void this.trigger(), this.ctx.config.connectionPollMs)
    this.timer.unref()
    void this.trigger()
  }

  async stop() {
    clearInterval(this.timer)
    await this.running
  }

  /** A poll now, unless one is under way (it will see the same state). */
  trigger(): Promise<void> {
    this.running ??= this.poll()
      .then(() => void (this.lastError = ''))
      .catch((err) => {
        const text = (err as Error).message
        if (text !== this.lastError) console.error('[labvirt] who is connected:', text)
        this.lastError = text
      })
      .finally(() => (this.running = undefined))
    return this.running
  }

  private async poll() {
    const { store, config } = this.ctx
    const mode = config.connectionTracking
    const [statuses, labs, current] = await Promise.all([store.vms.list(), store.labs.list(), store.connections.list()])
    const labById = new Map(labs.map((l) => [l.id, l]))
    // Manual VMs too: no terminal connects to them, but an admin's console on one is worth showing.
    const watched = statuses
      .filter((s) => s.host === config.hostId && (s.state === 'running' || s.state === 'stopping'))
      .map((s) => watchedOf(s, s.lab ? labById.get(s.lab) : undefined))
    const wants = (via: Target['via']) => mode !== 'heartbeat' && mode !== 'off' && watched.some((w) => w.target?.via === via)
    const [allFlows, allSockets] = await Promise.all([wants('conntrack') ? this.flows() : undefined, wants('socket') ? readSockets() : undefined])
    // The readiness probes' own connections are nobody on the seat.
    const flows = allFlows?.filter((f) => !probePorts.has(f.sport))
    const sockets = allSockets?.filter((s) => !probePorts.has(s.remotePort))
    const tableless = watched.some((w) => !w.target || (w.target.via === 'conntrack' ? !flows : !sockets))
    const heartbeats = mode === 'heartbeat' || (mode === 'auto' && tableless) ? await store.heartbeats.list() : []
    const now = Date.now()
    const seen = sightings(watched, { flows, sockets, heartbeats, mode, now, heartbeatTimeoutMs: config.heartbeatTimeoutMs })

    // This host's records, and any other host left for a VM that now runs here.
    const mine = current.filter((c) => c.host === config.hostId || watched.some((w) => w.vm === c.id))
    const previous = new Map(mine.map(({ id, revision, createdAt, updatedAt, ...c }) => [id, c as Connection]))
    const next = connectionsFrom({ watched, seen, names: await this.terminalNames(addressesOf(seen)), consoles: this.deps.consoles(), previous, host: config.hostId, now })

    // A terminal's session ended when its seat has nobody but admin consoles left. An admin's VNC
    // console is not a student's session: an admin who looks at a seat (to help, to check it) must
    // not have it wiped when the console closes, and a student who leaves while an admin watches has
    // left all the same. (While a console is open the seat counts as connected: no restart under it.)
    const nowIso = new Date(now).toISOString()
    const ended = [...previous].filter(([id, c]) => c.via !== 'console' && (next.get(id)?.via ?? 'console') === 'console')
    let changed = false
    await Promise.all([
      ...ended.map(([id, c]) => store.sessionEnds.upsert(id, () => ({ began: c.since, ended: nowIso, host: config.hostId }))),
      ...[...next].map(async ([id, c]) => {
        const prev = previous.get(id)
        if (prev && same(prev, c)) return
        changed ||= !prev
        await store.connections.upsert(id, () => c)
      }),
      ...[...previous.keys()].filter((id) => !next.has(id)).map(async (id) => {
        changed = true
        await store.connections.upsert(id, () => null)
      }),
    ])
    if (changed) this.deps.changed()
  }

  private async terminalNames(addresses: string[]): Promise<Map<string, string>> {
    const names = new Map<string, string>()
    await Promise.all(addresses.map(async (ip) => {
      const id = await this.deps.terminalAt(ip)
      if (id) names.set(ip, id)
    }))
    return names
  }

  private async flows(): Promise<Flow[] | undefined> {
    if (Date.now() < this.flowsRetryAt) return undefined
    const r = await readFlows(this.flowSource)
    if (!r) {
      if (this.flowsRetryAt === 0) {
        const fallback = this.ctx.config.connectionTracking === 'auto' ? ': bridge and tap seats count as connected by the launchers\' heartbeats' : ''
        console.warn(`[labvirt] connection tracking cannot be read here (neither /proc/net/nf_conntrack nor \`conntrack -L\`, which needs CAP_NET_ADMIN)${fallback}`)
      }
      this.flowsRetryAt = Date.now() + RETRY_TABLE_MS
      return undefined
    }
    this.flowSource = r.source
    return r.flows
  }
}
