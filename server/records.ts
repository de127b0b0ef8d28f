import { N_ } from '../schemas/msgid'
import { RecordConflict } from '../storage'
import { ConflictError, type FieldIssue, NotFoundError, msg } from './errors'

/** Turns the store's refusals into the API's 404 and 409, naming the record. `kind` is a msgid. */
export async function guardRecord<R>(kind: string, id: string, op: () => Promise<R>): Promise<R> {
  try {
    return await op()
  } catch (err) {
    if (!(err instanceof RecordConflict)) throw err
    if (err.reason === 'missing') throw new NotFoundError(kind, id)
    if (err.reason === 'exists') throw new ConflictError('A {kind} named "{id}" already exists', { kind: msg(kind), id })
    throw new ConflictError(
      N_('The {kind} "{id}" was changed meanwhile (it is now at revision {revision}); reload it and try again'),
      { kind: msg(kind), id, revision: err.current!.revision },
      { current: err.current },
    )
  }
}

export async function mustGet<T>(repo: { get(id: string): Promise<T | null> }, kind: string, id: string): Promise<T> {
  const found = await repo.get(id)
  if (!found) throw new NotFoundError(kind, id)
  return found
}

/**
 * The 400 issue for a field that names a record which does not exist (`kind` is a msgid), or
 * nothing when it exists; shared by the domains that check references between records.
 */
export async function missingRef(
  repo: { get(id: string): Promise<unknown> },
  kind: string,
  id: string,
  field: string,
): Promise<FieldIssue | undefined> {
  if (await repo.get(id)) return undefined
  return { field, message: N_('No {kind} named "{id}"'), params: { kind: msg(kind), id } }
}

/** Refuses to delete something others still refer to, naming them. */
export function refuseIfUsed(kind: string, id: string, users: { kind: string; ids: string[] }[]) {
  const using = users.filter((u) => u.ids.length > 0)
  if (using.length === 0) return
  throw new ConflictError(
    N_('The {kind} "{id}" is still used by: {users}'),
    { kind: msg(kind), id, users: using.map((u) => msg('{kind}: {ids}', { kind: msg(u.kind), ids: u.ids.join(', ') })) },
    { usedBy: Object.fromEntries(using.map((u) => [u.kind, u.ids])) },
  )
}

/** A name in an update body must be the record's own: names are ids and cannot change. */
export function keepName(kind: string, id: string, name: string | undefined) {
  if (name !== undefined && name !== id) {
    throw new ConflictError('A {kind} cannot be renamed ("{id}" to "{name}")', { kind: msg(kind), id, name })
  }
}
