import { language, t } from './i18n'

/** One failing field of a 400, as the server reports it (already in the caller's language). */
export interface FieldProblem { field: string; message: string }

/** An error answer of the API: its status, its translated message and the failing fields. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly fields: FieldProblem[] = [], readonly body: Record<string, unknown> = {}) {
    super(message)
  }

  /** The message for one field (`disks.0.image`), or undefined. */
  fieldMessage(field: string) {
    return this.fields.find((f) => f.field === field)?.message
  }
}

type Unauthorized = () => void
let onUnauthorized: Unauthorized = () => {}
/** What a 401 does (set by the router: back to sign-in, remembering where the user was). */
export function handleUnauthorized(fn: Unauthorized) {
  onUnauthorized = fn
}
/** The session has ended (a 401 seen outside this client, e.g. by the live stream). */
export const sessionEnded = () => onUnauthorized()

/**
 * Calls the API: JSON in and out (writes always `application/json`, as the server's CSRF check
 * wants), in the chosen language. Throws ApiError for an error answer; a 401 also sends the user
 * to sign-in, except from the session routes themselves (signing in, asking who is signed in).
 */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'accept-language': language.value }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
  } catch {
    throw unreachable()
  }
  return answerOf<T>(path, res.status, await res.text())
}

const unreachable = () => new ApiError(0, t('LabVirt cannot be reached; check the network and try again'))

/** An answer's JSON body, or the ApiError it says (a 401 also ends the session, but on the session routes). */
function answerOf<T>(path: string, status: number, text: string): T {
  let data: any
  try {
    data = text ? JSON.parse(text) : undefined
  } catch {
    data = undefined
  }
  if (status < 200 || status >= 300) {
    if (status === 401 && !path.startsWith('/api/auth/')) onUnauthorized()
    throw new ApiError(status, data?.message ?? t('Unexpected answer from the server ({status})', { status }), data?.fields ?? [], data ?? {})
  }
  return data as T
}

export const get = <T = unknown>(path: string) => api<T>('GET', path)
export const post = <T = unknown>(path: string, body: unknown = {}) => api<T>('POST', path, body)
export const put = <T = unknown>(path: string, body: unknown) => api<T>('PUT', path, body)
export const del = <T = unknown>(path: string) => api<T>('DELETE', path)

/**
 * Sends a file's bytes (`application/octet-stream`, streamed by the browser, never read whole) with
 * `PUT`, calling `progress` as they go: fetch cannot report an upload's progress, XMLHttpRequest can.
 */
export function upload<T = unknown>(path: string, file: Blob, progress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', path)
    xhr.setRequestHeader('content-type', 'application/octet-stream')
    xhr.setRequestHeader('accept', 'application/json')
    xhr.setRequestHeader('accept-language', language.value)
    xhr.upload.onprogress = (e) => progress(e.loaded, e.lengthComputable ? e.total : file.size)
    xhr.onerror = () => reject(unreachable())
    xhr.onload = () => {
      try {
        resolve(answerOf<T>(path, xhr.status, xhr.responseText))
      } catch (err) {
        reject(err)
      }
    }
    xhr.send(file)
  })
}
