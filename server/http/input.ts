import { N_ } from '../../schemas/msgid'
import * as v from 'valibot'
import { type H3Event, getQuery, getRouterParam, readRawBody } from 'h3'
import { DomainError, ValidationError } from '../errors'
import { toFieldIssues } from './valibot-issues'
import { Name } from '../../schemas/common'

/** Bodies above this are refused before parsing: nothing in the admin API comes close. */
export const MAX_BODY_BYTES = 256 * 1024

export function validate<S extends v.GenericSchema>(schema: S, input: unknown, root = ''): v.InferOutput<S> {
  const result = v.safeParse(schema, input)
  if (!result.success) {
    throw new ValidationError(toFieldIssues(result.issues).map((i) => ({ ...i, field: i.field || root })))
  }
  return result.output
}

/** Reads a JSON body and validates it; any failure is a 4xx with the failing fields. */
export async function readBody<S extends v.GenericSchema>(event: H3Event, schema: S): Promise<v.InferOutput<S>> {
  const length = Number(event.node.req.headers['content-length'] ?? 0)
  if (length > MAX_BODY_BYTES) throw new DomainError(413, 'too_large', N_('The request body is too large (at most {n} bytes)'), { n: MAX_BODY_BYTES })
  const raw = await readRawBody(event, 'utf8')
  if (raw !== undefined && Buffer.byteLength(raw) > MAX_BODY_BYTES) {
    throw new DomainError(413, 'too_large', N_('The request body is too large (at most {n} bytes)'), { n: MAX_BODY_BYTES })
  }
  let body: unknown
  try {
    body = raw === undefined || raw.trim() === '' ? undefined : JSON.parse(raw)
  } catch {
    throw new ValidationError([{ field: '', message: N_('The body is not valid JSON') }], N_('The body is not valid JSON'))
  }
  if (body === undefined) throw new ValidationError([{ field: '', message: N_('A JSON body is required') }])
  return validate(schema, body)
}

/** The `:id` of a route, which must be a valid name (or match `schema`): anything else cannot exist. */
export function readId(event: H3Event, param = 'id', schema: v.GenericSchema<string, string> = Name): string {
  return validate(schema, getRouterParam(event, param, { decode: true }) ?? '', param)
}

export function readQuery<S extends v.GenericSchema>(event: H3Event, schema: S): v.InferOutput<S> {
  return validate(schema, getQuery(event))
}
