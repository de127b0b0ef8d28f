import { N_ } from '#schemas/msgid'
import type { Lab } from '#schemas/labs'
import type { Terminal } from '#schemas/terminals'
import type { Connection, SeatAssignment } from '#schemas/terminal-api'
import { type Frozen, type Repositories, type Stored } from '#storage'
import { UnavailableError } from '../errors'
import { unlessConflict } from '../records'
import { seatVm } from '../labs/seats'
import { claimedTerminal } from './identify'
import { readinessOf } from '../readiness/view'
import { mayRenewLater, renewLater } from './renewals'

/** What a terminal waiting for a seat is told to wait before asking again (Retry-After). */
export const RETRY_AFTER_S = 5

export interface SeatChoice {
  lab: Frozen<Stored<Lab>>
  /** The seat number in the lab. */
  seat: number
  /** The seat's VM id, `<lab>-<n>`. */
  vm: string
  /**
   * Until when the same records give the same choice without a write: a sticky seat whose
   * assignment needs no renewal yet (answer.ts keeps such answers).
   */
  steadyUntil?: number
}

/** The seat a terminal is pinned to, as its VM id (and the value of its `terminal-seat` claim). */
export const pinOf = (t: Pick<Terminal, 'lab' | 'seat'>) => (t.seat === undefined ? undefined : seatVm(t.lab, t.seat))
const seatsOf = (lab: Frozen<Lab>) => Array.from({ length: lab.size }, (_, i) => i + 1)

// Thrown inside a compare-and-set to leave the assignment alone: another terminal has the seat.
const TAKEN = Symbol('taken')

/**
 * Gives `vm` to `terminal` atomically, unless another terminal holds it and `mayTake` says no:
 * two terminals asking at once never both get a seat. Refreshes the time it was asked.
 */
async function take(store: Repositories, vm: string, terminal: string, now: number, mayTake: (a: SeatAssignment) => Promise<boolean>): Promise<boolean> {
  try {
    await store.assignments.upsert(vm, async (cur) => {
      if (cur && cur.terminal !== terminal && !(await mayTake(cur))) throw TAKEN
      return { terminal, at: new Date(now).toISOString() }
    })
    return true
  } catch (err) {
    if (err === TAKEN) return false
    throw err
  }
}

const release = (store: Repositories, vm: string, terminal: string) =>
  store.assignments.upsert(vm, (cur) => (cur?.terminal === terminal ? null : undefined))

/** Another terminal is pinned to this seat (its claim, checked against its record). */
async function pinnedToOther(store: Repositories, vm: string, terminal: string) {
  const pinned = await claimedTerminal(store, 'terminal-seat', vm, (t) => pinOf(t) === vm)
  return pinned !== null && pinned.id !== terminal
}

/** A terminal holds its seat while it asked or sent a heartbeat within the timeout. */
async function stillThere(store: Repositories, a: SeatAssignment, now: number, timeoutMs: number) {
  if (now - Date.parse(a.at) < timeoutMs) return true
  const beat = await store.heartbeats.peek(a.terminal)
  return beat !== null && now - Date.parse(beat.at) < timeoutMs
}

/** How the broker sees a seat: ready for a terminal, running but its service not answering yet, or down. */
type SeatState = 'ready' | 'starting' | 'down'

export interface BrokerOptions {
  /** A terminal's assignment lasts this long without a request or heartbeat. */
  timeoutMs: number
  /** Seats are probed (LABVIRT_PROBE_INTERVAL not off): only those whose service answers are given. */
  probing: boolean
}

async function seatState(store: Repositories, vm: string, probing: boolean): Promise<SeatState> {
  const [status, readiness] = await Promise.all([store.vms.peek(vm), probing ? store.readiness.peek(vm) : null])
  return stateOf(status, readiness, probing)
}

const stateOf = (status: Parameters<typeof readinessOf>[0], readiness: Parameters<typeof readinessOf>[1], probing: boolean): SeatState =>
  readinessOf(status, readiness, probing).ready ? 'ready' : status?.state === 'running' ? 'starting' : 'down'

const notReady = (lab: string, seat: number, state: SeatState) =>
  state === 'starting'
    ? new UnavailableError(RETRY_AFTER_S, N_('Seat {seat} of lab "{lab}" is starting: its service does not answer yet'), { lab, seat })
    : new UnavailableError(RETRY_AFTER_S, N_('Seat {seat} of lab "{lab}" is not running yet'), { lab, seat })

/**
 * What terminals looking for a new seat read of a lab, shared by every request within
 * SNAPSHOT_MS: in a boot storm, hundreds of terminals ask at once, and each reading every seat
 * would make the storm quadratic. The snapshot only narrows the search; the compare-and-set on the
 * assignment decides, and the winner's seat is read again, so a stale snapshot costs a retry or a
 * short 503, never a seat given twice.
 */
interface LabSnapshot {
  /** Seats ready for a terminal, in order. */
  ready: number[]
  /** Seats running, ready or not. */
  running: number
  assignments: Map<number, Frozen<SeatAssignment>>
  pins: Map<number, string>
  connections: Map<number, Frozen<Connection>>
  /** Seats won (or lost to another host) since the snapshot was read: no one here tries them again. */
  taken: Set<number>
  /** Seats a request of this process is trying right now: the others try the next one. */
  trying: Set<number>
}

const SNAPSHOT_MS = 500
const snapshots = new WeakMap<Repositories, Map<string, { now: number; revision: number; read: Promise<LabSnapshot> }>>()

function labSnapshot(store: Repositories, lab: Frozen<Stored<Lab>>, now: number, probing: boolean): Promise<LabSnapshot> {
  let byLab = snapshots.get(store)
  if (!byLab) snapshots.set(store, (byLab = new Map()))
  const cached = byLab.get(lab.id)
  if (cached && cached.revision === lab.revision && now >= cached.now && now - cached.now < SNAPSHOT_MS) return cached.read
  const read = readSnapshot(store, lab, probing)
  const entry = { now, revision: lab.revision, read }
  byLab.set(lab.id, entry)
  read.catch(() => byLab.get(lab.id) === entry && byLab.delete(lab.id))
  return read
}

async function readSnapshot(store: Repositories, lab: Frozen<Stored<Lab>>, probing: boolean): Promise<LabSnapshot> {
  const seats = seatsOf(lab)
  const vms = seats.map((n) => seatVm(lab.id, n))
  const [states, readiness, assignments, pins, connections] = await Promise.all([
    Promise.all(vms.map((vm) => store.vms.peek(vm))),
    Promise.all(vms.map((vm) => (probing ? store.readiness.peek(vm) : null))),
    Promise.all(vms.map((vm) => store.assignments.peek(vm))),
    Promise.all(vms.map((vm) => store.claims.owner('terminal-seat', vm))),
    Promise.all(vms.map((vm) => store.connections.peek(vm))),
  ])
  const bySeat = <T>(list: (T | null)[]) => new Map(list.flatMap((x, i) => (x === null ? [] : [[i + 1, x] as [number, T]])))
  return {
    ready: seats.filter((n) => stateOf(states[n - 1], readiness[n - 1], probing) === 'ready'),
    running: states.filter((s) => s?.state === 'running').length,
    assignments: bySeat(assignments),
    pins: bySeat(pins),
    connections: bySeat(connections),
    taken: new Set(),
    trying: new Set(),
  }
}

/** The seat a terminal was given last, if the assignment still names it. */
async function currentSeat(store: Repositories, terminal: string): Promise<{ vm: string; assignment: Frozen<Stored<SeatAssignment>> } | undefined> {
  const hint = await store.terminalSeats.peek(terminal)
  if (!hint) return undefined
  const assignment = await store.assignments.peek(hint.vm)
  return assignment?.terminal === terminal ? { vm: hint.vm, assignment } : undefined
}

/**
 * The seat a terminal connects to: its pinned seat; else the seat it had, while that is ready;
 * else the first ready seat no other terminal holds (assigned to one still there, pinned to one,
 * or connected to). Ready: running and its service answers (the probe task), so a terminal never
 * opens its client on a booting guest. None ready: 503 with a Retry-After.
 */
export async function brokerSeat(store: Repositories, terminal: Frozen<Stored<Terminal>>, lab: Frozen<Stored<Lab>>, { timeoutMs, probing }: BrokerOptions, now = Date.now()): Promise<SeatChoice> {
  const current = await currentSeat(store, terminal.id)
  const give = async (n: number) => {
    const vm = seatVm(lab.id, n)
    if (current && current.vm !== vm) await release(store, current.vm, terminal.id)
    if (current?.vm !== vm) await store.terminalSeats.upsert(terminal.id, () => ({ vm }))
    return { lab, seat: n, vm }
  }
  const state = (n: number) => seatState(store, seatVm(lab.id, n), probing)
  const ready = async (n: number) => (await state(n)) === 'ready'

  if (terminal.seat !== undefined) {
    const pinned = await state(terminal.seat)
    if (pinned !== 'ready') throw notReady(lab.id, terminal.seat, pinned)
    // The pin wins over whoever had the seat.
    await take(store, seatVm(lab.id, terminal.seat), terminal.id, now, async () => true)
    return give(terminal.seat)
  }

  const sticky = current && seatNumber(lab, current.vm)
  if (sticky && (await ready(sticky)) && !(await pinnedToOther(store, current.vm, terminal.id))) {
    // Asking again renews the assignment, but not on every request of a terminal that keeps asking;
    // after the answer while it holds long enough for the renewal to wait (renewals.ts).
    const at = Date.parse(current.assignment.at)
    const age = now - at
    if (age < timeoutMs / 3) return { ...(await give(sticky)), steadyUntil: at + timeoutMs / 3 }
    if (mayRenewLater(age, timeoutMs)) {
      renewLater(store, current.vm, terminal.id, now)
      return give(sticky)
    }
    if (await take(store, current.vm, terminal.id, now, async () => false)) return give(sticky)
  }

  const snap = await labSnapshot(store, lab, now, probing)
  if (snap.ready.length === 0) {
    if (snap.running) throw new UnavailableError(RETRY_AFTER_S, N_('The seats of lab "{lab}" are starting: none answers yet'), { lab: lab.id })
    throw new UnavailableError(RETRY_AFTER_S, N_('No seat of lab "{lab}" is running yet'), { lab: lab.id })
  }
  const held = (a: SeatAssignment | null | undefined) => (a && a.terminal !== terminal.id ? stillThere(store, a, now, timeoutMs) : Promise.resolve(false))
  const usedByOther = (c: Connection | undefined) => c !== undefined && (c.terminal ?? c.address) !== undefined && c.terminal !== terminal.id
  const pinned = async (n: number) => {
    const owner = snap.pins.get(n)
    return owner !== undefined && owner !== terminal.id && (await pinnedToOther(store, seatVm(lab.id, n), terminal.id))
  }
  for (const n of snap.ready) {
    if (snap.taken.has(n) || snap.trying.has(n)) continue
    snap.trying.add(n)
    try {
      if ((await held(snap.assignments.get(n))) || usedByOther(snap.connections.get(n)) || (await pinned(n))) continue
      const won = await take(store, seatVm(lab.id, n), terminal.id, now, async (a) => !(await held(a)))
      snap.taken.add(n)
      if (!won) continue
      if (await ready(n)) return await give(n)
      // It stopped (or stopped answering) since the snapshot was read: give it back and look further.
      await release(store, seatVm(lab.id, n), terminal.id)
    } finally {
      snap.trying.delete(n)
    }
  }
  throw new UnavailableError(RETRY_AFTER_S, N_('Every ready seat of lab "{lab}" is in use'), { lab: lab.id })
}

/** The seat number of a VM id in this lab, if it is one of its current seats. */
function seatNumber(lab: Frozen<Lab> & { id: string }, vm: string): number | undefined {
  if (!vm.startsWith(`${lab.id}-`)) return undefined
  const n = Number(vm.slice(lab.id.length + 1))
  return Number.isInteger(n) && n >= 1 && n <= lab.size ? n : undefined
}

/** The seat (VM id) a terminal was last given, if it still has one. */
export const assignedSeat = async (store: Repositories, terminal: Pick<Terminal, 'name'>) => (await currentSeat(store, terminal.name))?.vm

/** Frees the seat of a terminal that is gone or moved to another lab. */
export async function releaseSeats(store: Repositories, terminal: Pick<Terminal, 'name' | 'lab'>) {
  const current = await currentSeat(store, terminal.name)
  if (current) await release(store, current.vm, terminal.name)
  await store.terminalSeats.remove(terminal.name).catch(unlessConflict)
  // This host's snapshot still counts the seat as taken; the next request must see it free.
  snapshots.get(store)?.delete(terminal.lab)
}
