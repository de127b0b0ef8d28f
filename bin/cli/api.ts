import { N_ } from '../../schemas/msgid'
import { t } from './i18n'

/** The LabVirt API as the CLI sees it: one session, JSON in and out. */
export class Api {
  private cookie = ''
  constructor(readonly url: string, private user: string, private password: string | undefined) {}

  static fromEnv(env = process.env) {
    const url = env.LABVIRT_URL || `http://127.0.0.1:${env.PORT || 3000}`
    return new Api(url.replace(/\/$/, ''), env.LABVIRT_USER || 'admin', env.LABVIRT_PASSWORD || env.LABVIRT_ADMIN_PASSWORD)
  }

  private async send(method: string, path: string, body?: unknown) {
    let res: Response
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', 'accept-language': process.env.LANG?.split(/[_.]/)[0] || 'en', ...(this.cookie ? { cookie: this.cookie } : {}) },
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
    const { status, data } = await this.send(method, path, body)
    if (status >= 400) {
      const fields = (data?.fields ?? []).map((f: { field: string; message: string }) => `\n  ${f.field}: ${f.message}`).join('')
      throw new Error(`${data?.message ?? status}${fields}`)
    }
    return data as T
  }

  private async login() {
    if (!this.password) throw new Error(t(N_('Set LABVIRT_PASSWORD to the password of {user} (LABVIRT_USER)'), { user: this.user }))
    const { status, data } = await this.send('POST', '/api/auth/login', { username: this.user, password: this.password })
    if (status !== 200) throw new Error(data?.message ?? String(status))
  }
}
