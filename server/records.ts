import { N_ } from '#schemas/msgid'
import { RecordConflict } from '#storage'
import { ConflictError, type FieldIssue, NotFoundError, msg } from './errors'

/**
 * Turns the store's refusals into the API's 404 and 409, naming the record. `kind` is a msgid. A
 * stale write's 409 carries the current record as `view` shows it (users: never the hash).
 */
export async function guardRecord<R>(kind: string, id: string, op: () => Promise<R>, view: (current: any) => unknown = (c) => c): Promise<R> {
  try {
    return await op()
  } catch (err) {
    if (!(err instanceof RecordConflict)) throw err
    if (err.reason === 'missing') throw new NotFoundError(kind, id)
    if (err.reason === 'exists') throw alreadyExists(kind, id)
    throw new ConflictError(
      N_('The {kind} "{id}" was changed meanwhile (it is now at revision {revision}); reload it and try again'),
      { kind: msg(kind), id, revision: err.current!.revision },
      { current: view(err.current) },
    )
  }
}

/** The 409 for creating a record whose name is taken; for domains that check before they act. */
export function alreadyExists(kind: string, id: string) {
  return new ConflictError(N_('A {kind} named "{id}" already exists'), { kind: msg(kind), id })
}

export async function mustGet<T>(repo: { get(id: string): Promise<T | null> }, kind: string, id: string): Promise<T> {
  const found = await repo.get(id)
  if (!found) throw new NotFoundError(kind, id)
  return found
}

/** `mustGet` of a record only read (see Repository.peek). */
export async function mustPeek<T>(repo: { peek(id: string): Promise<T | null> }, kind: string, id: string): Promise<T> {
  return mustGet({ get: (id) => repo.peek(id) }, kind, id)
}

/** The 400 issue for a field naming a record that does not exist (`kind` is a msgid). */
export function noSuch(kind: string, id: string, field: string): FieldIssue {
  return { field, message: N_('No {kind} named "{id}"'), params: { kind: msg(kind), id } }
}

/** `noSuch` when the record `id` is not in `repo`; nothing when it is. */
export async function missingRef(repo: { get(id: string): Promise<unknown> }, kind: string, id: string, field: string) {
  return (await repo.get(id)) ? undefined : noSuch(kind, id, field)
}

/** Refuses to delete something others still refer to, naming them. */
export function refuseIfUsed(kind: string, id: string, users: { kind: string; ids: string[] }[]) {
  const using = users.filter((u) => u.ids.length > 0)
  if (using.length === 0) return
  throw new ConflictError(
    N_('The {kind} "{id}" is still used by: {users}'),
    { kind: msg(kind), id, users: using.map((u) => msg(N_('{kind}: {ids}'), { kind: msg(u.kind), ids: u.ids.join(', ') })) },
    { usedBy: Object.fromEntries(using.map((u) => [u.kind, u.ids])) },
  )
}

/** A name in an update body must be the record's own: names are ids and cannot change. */
export function keepName(kind: string, id: string, name: string | undefined) {
  if (name !== undefined && name !== id) {
    throw new ConflictError(N_('A {kind} cannot be renamed ("{id}" to "{name}")'), { kind: msg(kind), id, name })
  }
}

/**
 * For writes whose goal may already be reached (a hold that exists, a record already gone): the
 * store's "exists"/"missing" refusal is fine, anything else (the store down) is not.
 */
export function unlessConflict(err: unknown): void {
  if (!(err instanceof RecordConflict)) throw err
}
