import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import type { Repositories, Stored } from '#storage'
import type { Client, ClientCreate, ClientUpdate } from '#schemas/clients'
import { guardRecord, keepName, mustGet, refuseIfUsed } from '../records'
import { type Actor, recordEvent } from '../events'

const KIND = N_('client')

// Built field by field so the metadata a PUT echoes back (id, dates) is not stored as data.
function toClient(id: string, input: v.InferOutput<typeof ClientCreate> | v.InferOutput<typeof ClientUpdate>): Client {
  return { name: id, description: input.description, program: input.program, args: input.args }
}

export const listClients = (store: Repositories) => store.clients.list()
export const getClient = (store: Repositories, id: string) => mustGet(store.clients, KIND, id)

export async function createClient(store: Repositories, actor: Actor, input: v.InferOutput<typeof ClientCreate>): Promise<Stored<Client>> {
  const created = await guardRecord(KIND, input.name, () => store.clients.create(input.name, toClient(input.name, input)))
  await recordEvent(store, actor, 'create', KIND, created.id, created.revision)
  return created
}

export async function updateClient(store: Repositories, actor: Actor, id: string, input: v.InferOutput<typeof ClientUpdate>) {
  keepName(KIND, id, input.name)
  const updated = await guardRecord(KIND, id, () => store.clients.update(id, input.revision, () => toClient(id, input)))
  await recordEvent(store, actor, 'update', KIND, id, updated.revision)
  return updated
}

/** Refused while a lab (its default client) or a terminal still connects with it. */
export async function deleteClient(store: Repositories, actor: Actor, id: string, revision?: number) {
  await mustGet(store.clients, KIND, id)
  const labs = (await store.labs.list()).filter((l) => l.client === id).map((l) => l.id)
  const terminals = (await store.terminals.list()).filter((t) => t.client === id).map((t) => t.id)
  refuseIfUsed(KIND, id, [
    { kind: N_('labs'), ids: labs },
    { kind: N_('terminals'), ids: terminals },
  ])
  await guardRecord(KIND, id, () => store.clients.remove(id, revision))
  await recordEvent(store, actor, 'delete', KIND, id)
}
