import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { N_ } from '#schemas/msgid'
import { t } from './i18n'

/** The LabVirt API as the CLI sees it: one session, JSON in and out. */
export class Api {
  private cookie = ''
  constructor(readonly url: string, private user: string, private password: string | undefined) {}

  static fromEnv(env = process.env) {
    const url = env.LABVIRT_URL || `http://127.0.0.1:${env.PORT || 3000}`
    return new Api(url.replace(/\/$/, ''), env.LABVIRT_USER || 'admin', env.LABVIRT_PASSWORD || env.LABVIRT_ADMIN_PASSWORD)
  }

  private language() {
    return process.env.LANG?.split(/[_.]/)[0] || 'en'
  }

  private async send(method: string, path: string, body?: unknown) {
    let res: Response
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', 'accept-language': this.language(), ...(this.cookie ? { cookie: this.cookie } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (err) {
      throw new Error(t(N_('Cannot reach LabVirt at {url}: {error}'), { url: this.url, error: (err as Error).message }))
    }
    const cookie = res.headers.get('set-cookie')
    if (cookie) this.cookie = cookie.split(';')[0]!
    const text = await res.text()
    // Some routes answer text (DHCP host files): that comes back as the string.
    const data = text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text || undefined
    return { status: res.status, data }
  }

  /** Calls the API, signing in first; a 4xx/5xx becomes an Error with the server's (translated) message. */
  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.cookie) await this.login()
    return answer<T>(await this.send(method, path, body))
  }

  /**
   * PUTs the file at `file` to `path` as application/octet-stream, streamed from disk (any size),
   * telling `progress` how many bytes have gone out of how many.
   */
  async upload<T = any>(path: string, file: string, progress: (sent: number, total: number) => void): Promise<T> {
    if (!this.cookie) await this.login()
    const { size } = await stat(file)
    const url = new URL(`${this.url}${path}`)
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const result = await new Promise<{ status: number; data: any }>((resolve, reject) => {
      const req = request(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': size, 'accept-language': this.language(), cookie: this.cookie },
      })
      req.on('response', (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (d) => (text += d))
        res.on('end', () => {
          let data: any = text
          try {
            data = JSON.parse(text)
          } catch {}
          resolve({ status: res.statusCode ?? 0, data })
        })
      })
      req.on('error', (err) => reject(new Error(t(N_('Cannot reach LabVirt at {url}: {error}'), { url: this.url, error: err.message }))))
      let sent = 0
      const source = createReadStream(file)
      source.on('data', (chunk) => progress((sent += chunk.length), size))
      source.on('error', reject)
      source.pipe(req)
    })
    return answer<T>(result)
  }

  private async login() {
    if (!this.password) throw new Error(t(N_('Set LABVIRT_PASSWORD to the password of {user} (LABVIRT_USER)'), { user: this.user }))
    const { status, data } = await this.send('POST', '/api/auth/login', { username: this.user, password: this.password })
    if (status !== 200) throw new Error(data?.message ?? String(status))
  }
}

function answer<T>({ status, data }: { status: number; data: any }): T {
  if (status >= 400) {
    const fields = (data?.fields ?? []).map((f: { field: string; message: string }) => `\n  ${f.field}: ${f.message}`).join('')
    throw new Error(`${data?.message ?? status}${fields}`)
  }
  return data as T
}
