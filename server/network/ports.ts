import { createServer } from 'node:net'
import { N_ } from '#schemas/msgid'
import type { Lab, LabNetworkConfig } from '#schemas/labs'
import type { PortReservation, Repositories } from '#storage'

/**
 * No block of host ports fits the lab (a driver's answer, not an HTTP one: the labs domain says
 * whether it is the caller's field or a conflict). `msgid` and `params` say why.
 */
export class PortBlockError extends Error {
  constructor(public reason: 'past-end' | 'overlap' | 'exhausted', public msgid: string, public params: Record<string, string | number>) {
    super(msgid)
  }
}

/** A range of TCP ports, both ends included. */
export interface PortRange {
  from: number
  to: number
}

/** Where user-mode labs get their blocks (LABVIRT_FORWARD_PORTS), and the address seats listen on (LABVIRT_FORWARD_ADDRESS). */
export type ForwardSettings = PortRange & { address?: string }

/** The ports of a block something on this host already listens on. */
export type PortProbe = (block: PortRange) => Promise<number[]>

// Bound as QEMU's user-mode forward binds (SO_REUSEADDR, which Node sets too), so a port in
// TIME_WAIT counts as free and one another program listens on, on any address, as taken.
function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/** A probe binding each port on `address` (every address when unset), as the seats will. */
export const bindProbe = (address?: string): PortProbe => async (block) => {
  const busy: number[] = []
  for (let port = block.from; port <= block.to; port++) if (!(await canBind(port, address ?? '0.0.0.0'))) busy.push(port)
  return busy
}

type Placed = Pick<Lab, 'network' | 'max'> & { id: string }

/** The host ports a user-mode lab forwards to its seats: seat n at hostPort + n - 1, up to `max`. */
export function forwardBlock(lab: Pick<Lab, 'network' | 'max'>): PortRange | undefined {
  if (lab.network.mode !== 'user' || lab.network.hostPort === undefined) return undefined
  return { from: lab.network.hostPort, to: lab.network.hostPort + lab.max - 1 }
}

const overlaps = (a: PortRange, b: PortRange) => a.from <= b.to && b.from <= a.to

/** The start of the lowest run of `size` ports in `range` that no block in `taken` touches. */
export function lowestFreeBlock(range: PortRange, size: number, taken: PortRange[]): number | undefined {
  let start = range.from
  for (const b of [...taken].sort((x, y) => x.from - y.from)) {
    if (b.to < start) continue
    if (b.from > start + size - 1) break
    start = b.to + 1
  }
  return start + size - 1 <= range.to ? start : undefined
}

/**
 * The network a lab is stored with. A user-mode lab needs a block of `max` host ports no other
 * user-mode lab forwards: the one asked for, else the one it had (stable across updates) while it
 * still fits, else the lowest free block in `range` (LABVIRT_FORWARD_PORTS) without a port of
 * `busy` (in use by another program; the lab's own seats hold the block it keeps).
 */
export function placeForwards(network: LabNetworkConfig, max: number, previous: LabNetworkConfig | undefined, others: Placed[], range: PortRange, busy: number[] = []): LabNetworkConfig {
  if (network.mode !== 'user') return network
  const taken = others.flatMap((l) => {
    const b = forwardBlock(l)
    return b ? [{ ...b, lab: l.id }] : []
  })
  const clash = (from: number) => taken.find((b) => overlaps(b, { from, to: from + max - 1 }))
  if (network.hostPort !== undefined) {
    const to = network.hostPort + max - 1
    if (to > 65535) {
      throw new PortBlockError('past-end', N_('The host ports of {n} seats would end past 65535'), { n: max })
    }
    const other = clash(network.hostPort)
    if (other) throw new PortBlockError('overlap', N_('The host ports {from}-{to} overlap those of lab "{lab}"'), { from: network.hostPort, to, lab: other.lab })
    return network
  }
  const kept = previous?.mode === 'user' ? previous.hostPort : undefined
  if (kept !== undefined && kept + max - 1 <= 65535 && !clash(kept)) return { ...network, hostPort: kept }
  const start = lowestFreeBlock(range, max, [...taken, ...busy.map((p) => ({ from: p, to: p }))])
  if (start === undefined) {
    throw new PortBlockError('exhausted', N_('No {n} free consecutive host ports are left in LABVIRT_FORWARD_PORTS ({from}-{to})'), { n: max, from: range.from, to: range.to })
  }
  return { ...network, hostPort: start }
}

/** A block held in the store's map of user-mode port blocks. */
export type Reservation = PortReservation

// One record holds every user-mode lab's block and changes atomically (a compare-and-set on Redis),
// so two labs placed at once, on one host or many, never get overlapping blocks.
/** A reservation younger than this holds even if its lab's record is not written yet. */
const GRACE_MS = 60_000

type PortMap = Record<string, Reservation>

/** Changes the map, writing nothing when nothing changed (a refused request leaves the store as it was). */
function changeMap(store: Repositories, change: (map: PortMap) => PortMap | Promise<PortMap>) {
  return store.forwardPorts.update(async (cur) => {
    const next = await change({ ...(cur ?? {}) })
    return JSON.stringify(next) === JSON.stringify(cur ?? {}) ? cur : next
  })
}

/** Whether a reservation still counts: young, or its lab's record has that block (else a crash or failed write left it). */
async function live(store: Repositories, id: string, r: Reservation, now: number) {
  if (now - r.at < GRACE_MS) return true
  const record = await store.labs.get(id)
  return record !== null && forwardBlock(record)?.from === r.from
}

/** Probes of one placement: a range with every port busy gives up with the usual "no free block". */
const MAX_PROBES = 32

/**
 * Places a lab's forwards (see placeForwards) and reserves its block in the store's map, against
 * the blocks reserved there and those of `labs` (records from before the map). A newly chosen
 * block is probed first and moved past ports another program holds (another LabVirt's data dir,
 * any service). Call before writing the lab; if the write fails, put `before` back with
 * `putReservation`.
 */
export async function reserveForwards(store: Repositories, lab: string, network: LabNetworkConfig, max: number, previous: LabNetworkConfig | undefined, labs: Placed[], range: PortRange, probe?: PortProbe, now = Date.now()): Promise<{ network: LabNetworkConfig; before?: Reservation }> {
  let placed = network
  let before: Reservation | undefined
  await changeMap(store, async (map) => {
    before = map[lab]
    delete map[lab]
    for (const [id, r] of Object.entries(map)) if (!(await live(store, id, r, now))) delete map[id]
    const reserved: Placed[] = Object.entries(map).map(([id, r]) => ({ id, max: r.to - r.from + 1, network: { mode: 'user', hostPort: r.from } }))
    const others = [...reserved, ...labs.filter((l) => l.id !== lab && !map[l.id])]
    const busy: number[] = []
    placed = placeForwards(network, max, previous, others, range)
    const kept = previous?.mode === 'user' ? previous.hostPort : undefined
    for (let i = 0; probe && network.hostPort === undefined && placed.mode === 'user' && placed.hostPort !== kept && i < MAX_PROBES; i++) {
      const inUse = await probe(forwardBlock({ network: placed, max })!)
      if (!inUse.length) break
      busy.push(...inUse)
      placed = placeForwards(network, max, previous, others, range, busy)
    }
    const block = forwardBlock({ network: placed, max })
    if (block) map[lab] = before?.from === block.from && before.to === block.to ? before : { ...block, at: now }
    return map
  })
  return { network: placed, before }
}

/** Sets (or, with none, removes) a lab's reservation: to undo a failed write, or when the lab is deleted. */
export async function putReservation(store: Repositories, lab: string, reservation: Reservation | undefined) {
  await changeMap(store, (map) => {
    if (reservation) map[lab] = reservation
    else delete map[lab]
    return map
  })
}
