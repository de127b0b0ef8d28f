import { N_, type Quantity } from '#schemas/msgid'
/**
 * Domain errors. Each carries an HTTP status (h3 reads `statusCode` off a thrown error) and a
 * message as a gettext msgid with parameters, translated at the edge in server/http.
 */
/** A message to translate later: a gettext msgid and its `{placeholder}` values. */
export interface Msg {
  msgid: string
  params?: Params
}
/**
 * Placeholder values; a Msg is translated too, a list of them is joined, a Quantity is formatted
 * for the language. A plain number is written as it is (a port, a seat, a version).
 */
export type Params = Record<string, string | number | Quantity | Msg | Msg[]>

export const msg = (msgid: string, params?: Params): Msg => ({ msgid, params })

export interface FieldIssue {
  field: string
  /** msgid */
  message: string
  params?: Params
}

export class DomainError extends Error {
  constructor(
    public statusCode: number,
    public code: string,
    /** msgid */
    public msgid: string,
    public params: Params = {},
    public details: Record<string, unknown> = {},
  ) {
    super(msgid)
    this.name = 'DomainError'
  }
}

export class ValidationError extends DomainError {
  constructor(public fields: FieldIssue[], msgid: string = N_('The request has invalid fields')) {
    super(400, 'invalid', msgid)
  }
}

export class NotFoundError extends DomainError {
  constructor(kind: string, id: string) {
    super(404, 'not_found', N_('No {kind} named "{id}"'), { kind: msg(kind), id })
  }
}

export class ConflictError extends DomainError {
  constructor(msgid: string, params: Params = {}, details: Record<string, unknown> = {}) {
    super(409, 'conflict', msgid, params, details)
  }
}

export class AuthError extends DomainError {
  constructor(status: 401 | 403, msgid: string) {
    super(status, status === 401 ? 'unauthenticated' : 'forbidden', msgid)
  }
}

export class ForbiddenError extends DomainError {
  constructor(msgid: string, params: Params = {}, details: Record<string, unknown> = {}) {
    super(403, 'forbidden', msgid, params, details)
  }
}

/** Not possible yet, but soon: 503 with `Retry-After: retryAfter` (seconds). */
export class UnavailableError extends DomainError {
  constructor(retryAfter: number, msgid: string, params: Params = {}) {
    super(503, 'unavailable', msgid, params, { retryAfter })
  }
}

/**
 * `text` (a tool's error output) with every absolute path cut to its last name: answers reach
 * viewers, who need the file's name but not the host's layout. The server log keeps the original.
 */
export function hidePaths(text: string): string {
  return text.replace(/(?:\/[^\s'"`:,/]+)+\/([^\s'"`:,/]+)/g, '$1')
}
