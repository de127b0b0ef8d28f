import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import type { Repositories, Stored } from '#storage'
import type { Terminal, TerminalCreate, TerminalUpdate } from '#schemas/terminals'
import { ConflictError, type FieldIssue, ValidationError } from '../errors'
import { guardRecord, keepName, missingRef, mustGet, noSuch, unlessConflict } from '../records'
import { type Actor, recordEvent } from '../events'
import { releaseAll, type UniqueValue, writeUnique } from '../unique'
import { dropPending } from './pending'
import { pinOf, releaseSeats } from './broker'

const KIND = N_('terminal')
type TerminalInput = v.InferOutput<typeof TerminalCreate> | v.InferOutput<typeof TerminalUpdate>

async function checkTerminal(store: Repositories, id: string, input: TerminalInput): Promise<Terminal> {
  const issues: FieldIssue[] = []
  const lab = await store.labs.get(input.lab)
  if (!lab) issues.push(noSuch(N_('lab'), input.lab, 'lab'))
  else if (input.seat !== undefined && input.seat > lab.max) {
    issues.push({ field: 'seat', message: N_('Lab "{lab}" has at most {max} seats'), params: { lab: lab.id, max: lab.max } })
  }
  if (input.client) {
    const missing = await missingRef(store.clients, N_('client'), input.client, 'client')
    if (missing) issues.push(missing)
  }
  if (issues.length) throw new ValidationError(issues)

  // Built field by field so the metadata a PUT echoes back (id, dates) is not stored as data.
  return {
    name: id,
    description: input.description,
    ip: input.ip,
    mac: input.mac,
    lab: input.lab,
    client: input.client,
    seat: input.seat,
    params: input.params,
  }
}

// A terminal is identified by its address, so two terminals cannot share one; nor can two be
// pinned to one seat (the broker finds a seat's pin by its claim). All claimed atomically.
function claims(store: Repositories, t: Pick<Terminal, 'ip' | 'mac' | 'lab' | 'seat'>, previous?: Pick<Terminal, 'ip' | 'mac' | 'lab' | 'seat'>): UniqueValue[] {
  return [
    {
      space: 'terminal-ip',
      value: t.ip,
      previous: previous?.ip,
      holds: async (owner) => (await store.terminals.get(owner))?.ip === t.ip,
      conflict: (owner) => new ConflictError(N_('The IP address {ip} is already used by terminal "{terminal}"'), { ip: t.ip!, terminal: owner }),
    },
    {
      space: 'terminal-mac',
      value: t.mac,
      previous: previous?.mac,
      holds: async (owner) => (await store.terminals.get(owner))?.mac === t.mac,
      conflict: (owner) => new ConflictError(N_('The MAC address {mac} is already used by terminal "{terminal}"'), { mac: t.mac!, terminal: owner }),
    },
    {
      space: 'terminal-seat',
      value: pinOf(t),
      previous: previous && pinOf(previous),
      holds: async (owner) => {
        const other = await store.terminals.get(owner)
        return other ? pinOf(other) === pinOf(t) : false
      },
      conflict: (owner) => new ConflictError(N_('Seat {seat} of lab "{lab}" is already pinned to terminal "{terminal}"'), { seat: t.seat!, lab: t.lab, terminal: owner }),
    },
  ]
}

export const listTerminals = (store: Repositories) => store.terminals.list()
export const getTerminal = (store: Repositories, id: string) => mustGet(store.terminals, KIND, id)

export async function createTerminal(store: Repositories, actor: Actor, input: v.InferOutput<typeof TerminalCreate>): Promise<Stored<Terminal>> {
  const terminal = await checkTerminal(store, input.name, input)
  const created = await writeUnique(store, input.name, claims(store, terminal), () =>
    guardRecord(KIND, input.name, () => store.terminals.create(input.name, terminal)),
  )
  await dropPending(store, [terminal.ip, terminal.mac])
  await recordEvent(store, actor, 'create', KIND, created.id, created.revision)
  return created
}

export async function updateTerminal(store: Repositories, actor: Actor, id: string, input: v.InferOutput<typeof TerminalUpdate>) {
  keepName(KIND, id, input.name)
  const before = await mustGet(store.terminals, KIND, id)
  const terminal = await checkTerminal(store, id, input)
  const updated = await writeUnique(store, id, claims(store, terminal, before), () =>
    guardRecord(KIND, id, () => store.terminals.update(id, input.revision, () => terminal)),
  )
  await dropPending(store, [terminal.ip, terminal.mac])
  // Its heartbeat would keep a seat of the old lab held.
  if (before.lab !== terminal.lab) await releaseSeats(store, before)
  await recordEvent(store, actor, 'update', KIND, id, updated.revision)
  return updated
}

// Nothing refers to a terminal, so it can always go.
export async function deleteTerminal(store: Repositories, actor: Actor, id: string, revision?: number) {
  await mustGet(store.terminals, KIND, id)
  const removed = await guardRecord(KIND, id, () => store.terminals.remove(id, revision))
  await releaseAll(store, id, claims(store, removed))
  await releaseSeats(store, removed)
  await store.heartbeats.remove(id).catch(unlessConflict)
  await recordEvent(store, actor, 'delete', KIND, id)
}
