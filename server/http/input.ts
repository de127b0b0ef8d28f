import { N_ } from '#schemas/msgid'
import * as v from 'valibot'
import { type H3Event, getQuery, getRouterParam } from 'h3'
import { DomainError, ValidationError } from '../errors'
import { toFieldIssues } from './valibot-issues'
import { Name } from '#schemas/common'

/** Bodies above this are refused before parsing: nothing in the admin API comes close. */
export const MAX_BODY_BYTES = 256 * 1024

export function validate<S extends v.GenericSchema>(schema: S, input: unknown, root = ''): v.InferOutput<S> {
  const result = v.safeParse(schema, input)
  if (!result.success) {
    throw new ValidationError(toFieldIssues(result.issues).map((i) => ({ ...i, field: i.field || root })))
  }
  return result.output
}

const tooLarge = () => new DomainError(413, 'too_large', N_('The request body is too large (at most {n} bytes)'), { n: MAX_BODY_BYTES })

/**
 * The body as text, refused with 413 as soon as it passes MAX_BODY_BYTES: a chunked body has no
 * Content-Length to check first, and must never be buffered whole (the login route is public).
 */
function readLimited(event: H3Event): Promise<string> {
  const req = event.node.req
  // The rest of a refused body is read and dropped, never kept (Node discards what a handler left
  // unread once the answer is sent; its request timeout bounds a sender that never stops). Closing
  // the connection instead would cut the client off mid-upload, before it could read the 413.
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    req.resume()
    return Promise.reject(tooLarge())
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = () => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk)
      done()
      req.resume()
      reject(tooLarge())
    }
    const onEnd = () => {
      done()
      resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const onError = () => {
      done()
      reject(new DomainError(400, 'aborted', N_('The request was aborted')))
    }
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onError)
  })
}

/** Reads a JSON body and validates it; any failure is a 4xx with the failing fields. */
export async function readBody<S extends v.GenericSchema>(event: H3Event, schema: S): Promise<v.InferOutput<S>> {
  const raw = await readLimited(event)
  let body: unknown
  try {
    body = raw.trim() === '' ? undefined : JSON.parse(raw)
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
