import { N_ } from '#schemas/msgid'
import { seatOf } from '../vms/names'
import type * as v from 'valibot'
import { createHash } from 'node:crypto'
import type { Repositories, Stored } from '#storage'
import type { Lab, LabCreate, LabUpdate } from '#schemas/labs'
import { ConflictError, type FieldIssue, msg, ValidationError } from '../errors'
import { guardRecord, keepName, mustGet, refuseIfUsed } from '../records'
import { type Actor, recordEvent } from '../events'
import { releaseAll, type UniqueValue, writeUnique } from '../unique'
import { bindProbe, type ForwardSettings, placeForwards, PortBlockError, type PortRange, putReservation, reserveForwards } from '../network/ports'
import { seatIp, seatMac, seatVm } from './seats'

const KIND = N_('lab')
type LabInput = v.InferOutput<typeof LabCreate>

export { seatIp, seatMac } from './seats'

/** A seat as a lab would get it: the console shows these before the lab is saved. */
export interface SeatPreview {
  seat: number
  vm: string
  mac: string
  ip?: string
  /** User mode: the host port forwarded to the seat's desktop port. */
  hostPort?: number
  /** Runs now (seat <= size), or only reserved up to the maximum. */
  running: boolean
}

// QEMU's own OUI (52:54:00) with two octets from the lab's name; bumped until no lab has it.
function defaultMacBase(name: string, taken: Set<string>): string {
  const h = createHash('sha256').update(name).digest()
  for (let i = 0; i < 65536; i++) {
    const n = (h.readUInt16BE(0) + i) % 65536
    const mac = `52:54:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}:00`
    if (!taken.has(mac)) return mac
  }
  throw new ConflictError(N_('No free MAC base is left'))
}

async function checkLab(store: Repositories, id: string, input: LabInput | v.InferOutput<typeof LabUpdate>, avoid = new Set<string>()): Promise<Lab> {
  const issues: FieldIssue[] = []
  const max = input.max ?? Math.max(input.size, 1)
  const seen = new Set<string>()
  for (const [i, p] of input.profiles.entries()) {
    if (seen.has(p)) issues.push({ field: `profiles.${i}`, message: N_('Listed twice') })
    else if (!(await store.profiles.get(p))) issues.push({ field: `profiles.${i}`, message: N_('No {kind} named "{id}"'), params: { kind: msg(N_('profile')), id: p } })
    seen.add(p)
  }
  if (input.client && !(await store.clients.get(input.client))) {
    issues.push({ field: 'client', message: N_('No {kind} named "{id}"'), params: { kind: msg(N_('client')), id: input.client } })
  }
  if (input.ipBase && Number(input.ipBase.split('.')[3]) + max > 254) {
    issues.push({ field: 'ipBase', message: N_('The IP base leaves no room for {n} seats in its last octet'), params: { n: max } })
  }
  const pinned = (await store.terminals.list()).filter((t) => t.lab === id && t.seat !== undefined && t.seat > max)
  if (pinned.length) {
    issues.push({ field: 'max', message: N_('Terminals {terminals} are pinned to seats above {n}'), params: { terminals: pinned.map((t) => t.id).join(', '), n: max } })
  }
  if (issues.length) throw new ValidationError(issues)
  const oneOff = (await store.manual.list()).find((m) => seatOf(m.id, { id, max }) !== undefined)
  if (oneOff) throw new ConflictError(N_('Seat "{id}" of this lab would have the name of a one-off VM'), { id: oneOff.id })

  const others = (await store.labs.list()).filter((l) => l.id !== id)
  const previous = await store.labs.get(id)
  const macBase = input.macBase ?? previous?.macBase ?? defaultMacBase(id, new Set([...others.map((l) => l.macBase), ...avoid]))
  if (input.ipBase) {
    const base = ipNumber(input.ipBase)
    const overlap = others.find((l) => l.ipBase && base <= ipNumber(l.ipBase) + l.max && ipNumber(l.ipBase) <= base + max)
    if (overlap) throw new ConflictError(N_('The seat addresses overlap those of lab "{lab}"'), { lab: overlap.id })
  }
  return {
    name: id,
    description: input.description,
    size: input.size,
    max,
    profiles: input.profiles,
    macBase,
    ipBase: input.ipBase,
    network: input.network,
    client: input.client,
  }
}

function ipNumber(ip: string) {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)
}

// Seat MACs derive from the base, so two labs cannot share one (claimed atomically).
function macClaim(store: Repositories, macBase: string, previous?: string): UniqueValue[] {
  return [{
    space: 'lab-mac',
    value: macBase,
    previous,
    holds: async (owner) => (await store.labs.get(owner))?.macBase === macBase,
    conflict: (owner) => new ConflictError(N_('The MAC base {mac} is already used by lab "{lab}"'), { mac: macBase, lab: owner }),
  }]
}

/** The driver's "no block fits" as the caller's answer: a port past the end is their field, the rest a conflict. */
async function portAnswer<T>(place: () => T | Promise<T>): Promise<T> {
  try {
    return await place()
  } catch (err) {
    if (!(err instanceof PortBlockError)) throw err
    if (err.reason === 'past-end') throw new ValidationError([{ field: 'network.hostPort', message: err.msgid, params: err.params }])
    throw new ConflictError(err.msgid, err.params)
  }
}

/**
 * Writes a lab with its user-mode port block reserved first (server/network/ports.ts); a failed
 * write puts the lab's reservation back as it was.
 */
async function writeWithForwards<R extends Stored<Lab>>(store: Repositories, lab: Lab, previous: Lab | null, forwardPorts: ForwardSettings, write: (lab: Lab) => Promise<R>): Promise<R> {
  const others = (await store.labs.list()).filter((l) => l.id !== lab.name)
  const range = { from: forwardPorts.from, to: forwardPorts.to }
  const { network, before } = await portAnswer(() => reserveForwards(store, lab.name, lab.network, lab.max, previous?.network, others, range, bindProbe(forwardPorts.address)))
  try {
    return await write({ ...lab, network })
  } catch (err) {
    await putReservation(store, lab.name, before).catch(() => {})
    throw err
  }
}

/**
 * The lab `input` would be saved as (checked as a create or update would, nothing written) and
 * its seats up to the maximum: the MAC base it would get, each seat's VM, MAC, IP and forwarded
 * port. The port block is the one free now; another lab may take it before this one is saved.
 */
export async function previewLab(store: Repositories, input: LabInput, forwardPorts: PortRange) {
  const lab = await checkLab(store, input.name, input)
  const others = (await store.labs.list()).filter((l) => l.id !== lab.name)
  const previous = await store.labs.get(lab.name)
  const network = await portAnswer(() => placeForwards(lab.network, lab.max, previous?.network, others, forwardPorts))
  const seats: SeatPreview[] = []
  for (let n = 1; n <= lab.max; n++) {
    seats.push({
      seat: n,
      vm: seatVm(lab.name, n),
      mac: seatMac(lab, n),
      ip: seatIp(lab, n),
      hostPort: network.mode === 'user' && network.hostPort !== undefined ? network.hostPort + n - 1 : undefined,
      running: n <= lab.size,
    })
  }
  return { macBase: lab.macBase, max: lab.max, network, seats }
}

export const listLabs = (store: Repositories) => store.labs.list()
export const getLab = (store: Repositories, id: string) => mustGet(store.labs, KIND, id)

/** `forwardPorts`: where user-mode labs get their host port blocks (LABVIRT_FORWARD_PORTS and _ADDRESS). */
export async function createLab(store: Repositories, actor: Actor, input: LabInput, forwardPorts: ForwardSettings): Promise<Stored<Lab>> {
  const avoid = new Set<string>()
  let created: Stored<Lab>
  for (let attempt = 0; ; attempt++) {
    const lab = await checkLab(store, input.name, input, avoid)
    try {
      created = await writeWithForwards(store, lab, null, forwardPorts, (placed) =>
        writeUnique(store, input.name, macClaim(store, placed.macBase), () => guardRecord(KIND, input.name, () => store.labs.create(input.name, placed))),
      )
      break
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 16) throw err
      // A default MAC base that another lab took meanwhile: take the next free one. One the
      // caller asked for is theirs to change.
      if (!input.macBase && err.params.mac === lab.macBase) {
        avoid.add(lab.macBase)
        continue
      }
      throw err
    }
  }
  await recordEvent(store, actor, 'create', KIND, created.id, created.revision)
  return created
}

export async function updateLab(store: Repositories, actor: Actor, id: string, input: v.InferOutput<typeof LabUpdate>, forwardPorts: ForwardSettings) {
  keepName(KIND, id, input.name)
  const before = await mustGet(store.labs, KIND, id)
  const lab = await checkLab(store, id, input)
  const updated = await writeWithForwards(store, lab, before, forwardPorts, (placed) =>
    writeUnique(store, id, macClaim(store, placed.macBase, before.macBase), () => guardRecord(KIND, id, () => store.labs.update(id, input.revision, () => placed))),
  )
  await recordEvent(store, actor, 'update', KIND, id, updated.revision)
  return updated
}

export async function deleteLab(store: Repositories, actor: Actor, id: string, revision?: number) {
  await mustGet(store.labs, KIND, id)
  const terminals = (await store.terminals.list()).filter((t) => t.lab === id).map((t) => t.id)
  refuseIfUsed(KIND, id, [{ kind: N_('terminals'), ids: terminals }])
  const removed = await guardRecord(KIND, id, () => store.labs.remove(id, revision))
  await releaseAll(store, id, [{ space: 'lab-mac', value: removed.macBase }])
  await putReservation(store, id, undefined)
  await recordEvent(store, actor, 'delete', KIND, id)
}
