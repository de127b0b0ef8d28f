import { ADMIN_PASSWORD } from './server'

export interface Answer<T = any> {
  status: number
  body: T
  headers: Headers
}

/** A small API client holding one session cookie, as a browser would. */
export class ApiClient {
  cookie = ''
  constructor(public url: string, public lang?: string) {}

  async request<T = any>(method: string, path: string, body?: unknown, opts: { raw?: string; headers?: Record<string, string> } = {}): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...opts.headers }
    if (this.cookie) headers.cookie = this.cookie
    if (this.lang) headers['accept-language'] = this.lang
    let payload: string | undefined = opts.raw
    if (body !== undefined) {
      payload = JSON.stringify(body)
    }
    if (payload !== undefined) headers['content-type'] ??= 'application/json'
    const res = await fetch(`${this.url}${path}`, { method, headers, body: payload })
    const setCookie = res.headers.get('set-cookie')
    if (setCookie) this.cookie = setCookie.split(';')[0]!
    // A stream (server-sent events) never ends by itself: its status and headers are the answer.
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      await res.body?.cancel()
      return { status: res.status, body: undefined as T, headers: res.headers }
    }
    const text = await res.text()
    let parsed: any = text
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers }
  }

  get<T = any>(path: string) { return this.request<T>('GET', path) }
  post<T = any>(path: string, body?: unknown) { return this.request<T>('POST', path, body) }
  put<T = any>(path: string, body?: unknown) { return this.request<T>('PUT', path, body) }
  delete<T = any>(path: string) { return this.request<T>('DELETE', path) }

  async login(username = 'admin', password = ADMIN_PASSWORD) {
    const res = await this.post('/api/auth/login', { username, password })
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`)
    return this
  }
}

/** An admin client, logged in. */
export function adminClient(url: string) {
  return new ApiClient(url).login()
}
