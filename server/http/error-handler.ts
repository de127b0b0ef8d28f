import { N_ } from '#schemas/msgid'
import { type H3Event, send, setResponseHeader, setResponseStatus } from 'h3'
import type { NitroErrorHandler } from 'nitropack'
import { DomainError, ValidationError } from '../errors'
import { StoreUnavailableError } from '#storage'
import { type Language, translate } from '../i18n'
import { languageOf } from './language'

const GENERIC: Record<number, string> = {
  404: N_('Not found'),
  405: N_('Method not allowed'),
}

/**
 * Every error the API answers, as JSON in the caller's language:
 * `{statusCode, error, message, fields?, ...details}`. Domain errors keep their status; the store
 * being unreachable is 503; anything else is a bug, logged, and answered 500 without details.
 */
export function errorBody(error: { statusCode?: number; cause?: unknown }, event: H3Event) {
  return errorBodyIn(error, languageOf(event))
}

/** The same body in a given language: for answers given outside an h3 event (a refused WebSocket). */
export function errorBodyIn(error: { statusCode?: number; cause?: unknown }, lang: Language) {
  const cause = error instanceof DomainError ? error : error.cause
  if (cause instanceof DomainError) {
    const body: Record<string, unknown> = {
      statusCode: cause.statusCode,
      error: cause.code,
      message: translate(lang, cause.msgid, cause.params),
      ...cause.details,
    }
    if (cause instanceof ValidationError) {
      body.fields = cause.fields.map((f) => ({ field: f.field, message: translate(lang, f.message, f.params) }))
    }
    return body
  }
  if (cause instanceof StoreUnavailableError) {
    return { statusCode: 503, error: 'store_unavailable', message: translate(lang, N_('The store is unavailable; try again shortly')) }
  }
  const status = error.statusCode ?? 500
  if (status >= 500) {
    console.error('[labvirt] unhandled error', error.cause ?? error)
    return { statusCode: 500, error: 'internal', message: translate(lang, N_('Internal error')) }
  }
  return { statusCode: status, error: 'http', message: translate(lang, GENERIC[status] ?? N_('Bad request')) }
}

const handler: NitroErrorHandler = (error, event) => {
  const body = errorBody(error, event)
  if (body.error === 'store_unavailable') setResponseHeader(event, 'retry-after', 5)
  if (typeof body.retryAfter === 'number') setResponseHeader(event, 'retry-after', body.retryAfter)
  setResponseHeader(event, 'cache-control', 'no-store')
  setResponseStatus(event, body.statusCode as number)
  // A terminal's launcher shows the message as it is (see server/http/terminal.ts).
  if (event.context.plainErrors) {
    setResponseHeader(event, 'content-type', 'text/plain; charset=utf-8')
    const fields = (body.fields as { field: string; message: string }[] | undefined) ?? []
    return send(event, [body.message, ...fields.map((f) => `${f.field}: ${f.message}`)].join('\n') + '\n')
  }
  setResponseHeader(event, 'content-type', 'application/json')
  return send(event, JSON.stringify(body))
}

export default handler
