import { N_ } from '../../schemas/msgid'
import type { Lab } from '../../schemas/labs'
import type { Terminal } from '../../schemas/terminals'
import type { SeatAssignment } from '../../schemas/terminal-api'
import { type Repositories, type Stored, uniqueOwner } from '../../storage'
import { UnavailableError } from '../errors'

/** What a terminal waiting for a seat is told to wait before asking again (Retry-After). */
export const RETRY_AFTER_S = 5

export interface SeatChoice {
  lab: Stored<Lab>
  /** The seat number in the lab. */
  seat: number
  /** The seat's VM id, `<lab>-<n>`. */
  vm: string
}

const vmOf = (lab: string, seat: number) => `${lab}-${seat}`

/** The seat a terminal is pinned to, as its VM id (and the value of its `terminal-seat` claim). */
export const pinOf = (t: Pick<Terminal, 'lab' | 'seat'>) => (t.seat === undefined ? undefined : vmOf(t.lab, t.seat))
const seatsOf = (lab: Lab) => Array.from({ length: lab.size }, (_, i) => i + 1)

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
  const owner = await uniqueOwner(store.kv, 'terminal-seat', vm)
  if (!owner || owner === terminal) return false
  const other = await store.terminals.get(owner)
  return other !== null && pinOf(other) === vm
}

/** Someone else (another terminal, or an address no terminal has) is connected to the seat. */
async function usedByOther(store: Repositories, vm: string, terminal: string) {
  const conn = await store.connections.get(vm)
  return conn !== null && (conn.terminal ?? conn.address) !== undefined && conn.terminal !== terminal
}

/** A terminal holds its seat while it asked or sent a heartbeat within the timeout. */
async function stillThere(store: Repositories, a: SeatAssignment, now: number, timeoutMs: number) {
  if (now - Date.parse(a.at) < timeoutMs) return true
  const beat = await store.heartbeats.get(a.terminal)
  return beat !== null && now - Date.parse(beat.at) < timeoutMs
}

const notReady = (lab: string, seat: number) =>
  new UnavailableError(RETRY_AFTER_S, N_('Seat {seat} of lab "{lab}" is not running yet'), { lab, seat })

/**
 * The seat a terminal connects to: its pinned seat; else the seat it had, while that runs; else
 * the first running seat no other terminal holds (assigned to one still there, pinned to one, or
 * connected to). None ready: 503 with a Retry-After.
 */
export async function brokerSeat(store: Repositories, terminal: Stored<Terminal>, lab: Stored<Lab>, timeoutMs: number, now = Date.now()): Promise<SeatChoice> {
  const seats = seatsOf(lab)
  const [states, assignments] = await Promise.all([
    Promise.all(seats.map((n) => store.vms.get(vmOf(lab.id, n)))),
    Promise.all(seats.map((n) => store.assignments.get(vmOf(lab.id, n)))),
  ])
  const running = (n: number) => states[n - 1]?.state === 'running'
  const mine = seats.filter((n) => assignments[n - 1]?.terminal === terminal.id)
  const give = async (n: number) => {
    for (const m of mine) if (m !== n) await release(store, vmOf(lab.id, m), terminal.id)
    return { lab, seat: n, vm: vmOf(lab.id, n) }
  }

  if (terminal.seat !== undefined) {
    if (!running(terminal.seat)) throw notReady(lab.id, terminal.seat)
    // The pin wins over whoever had the seat.
    await take(store, vmOf(lab.id, terminal.seat), terminal.id, now, async () => true)
    return give(terminal.seat)
  }

  const sticky = mine.find(running)
  if (sticky !== undefined && !(await pinnedToOther(store, vmOf(lab.id, sticky), terminal.id))) {
    const at = Date.parse(assignments[sticky - 1]!.at)
    // Asking again refreshes the assignment, but not on every request of a terminal that keeps asking.
    if (now - at < timeoutMs / 3 || (await take(store, vmOf(lab.id, sticky), terminal.id, now, async () => false))) return give(sticky)
  }

  const candidates = seats.filter(running)
  if (candidates.length === 0) {
    throw new UnavailableError(RETRY_AFTER_S, N_('No seat of lab "{lab}" is running yet'), { lab: lab.id })
  }
  const held = (a: SeatAssignment | null) => (a && a.terminal !== terminal.id ? stillThere(store, a, now, timeoutMs) : Promise.resolve(false))
  for (const n of candidates) {
    const vm = vmOf(lab.id, n)
    // Cheap checks on what was read first; the compare-and-set decides on the current assignment.
    if (await held(assignments[n - 1] ?? null)) continue
    if ((await pinnedToOther(store, vm, terminal.id)) || (await usedByOther(store, vm, terminal.id))) continue
    if (await take(store, vm, terminal.id, now, async (a) => !(await held(a)))) return give(n)
  }
  throw new UnavailableError(RETRY_AFTER_S, N_('Every running seat of lab "{lab}" is in use'), { lab: lab.id })
}

/** The seats (VM ids) assigned to a terminal: one, normally. */
async function assignedSeats(store: Repositories, terminal: Pick<Terminal, 'name' | 'lab'>): Promise<string[]> {
  const lab = await store.labs.get(terminal.lab)
  if (!lab) return []
  const vms = seatsOf(lab).map((n) => vmOf(lab.id, n))
  const assignments = await Promise.all(vms.map((vm) => store.assignments.get(vm)))
  return vms.filter((_, i) => assignments[i]?.terminal === terminal.name)
}

/** The seat (VM id) a terminal was last given, if it still has one. */
export const assignedSeat = async (store: Repositories, terminal: Terminal) => (await assignedSeats(store, terminal))[0]

/** Frees the seats of a terminal that is gone or moved to another lab. */
export async function releaseSeats(store: Repositories, terminal: Pick<Terminal, 'name' | 'lab'>) {
  for (const vm of await assignedSeats(store, terminal)) await release(store, vm, terminal.name)
}
