/** One server-sent event as `GET /api/stream` sends it, its data parsed as JSON. */
export interface StreamEvent {
  event: string
  data: any
}

/**
 * `GET /api/stream` read as a browser's EventSource would: every event kept in order, and waits
 * for one that matches (from the start, or only among those after a mark).
 */
export class StreamReader {
  readonly events: StreamEvent[] = []
  ended = false
  private waiters: (() => void)[] = []
  private constructor(private controller: AbortController) {}

  /** `lang` goes in Accept-Language, or in `?lang=` with `langInQuery` (a browser's EventSource can set no header). */
  static async open(url: string, cookie?: string, lang?: string, { langInQuery = false } = {}): Promise<{ status: number; reader?: StreamReader }> {
    const controller = new AbortController()
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (cookie) headers.cookie = cookie
    if (lang && !langInQuery) headers['accept-language'] = lang
    const query = lang && langInQuery ? `?lang=${lang}` : ''
    const res = await fetch(`${url}/api/stream${query}`, { headers, signal: controller.signal })
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel()
      return { status: res.status }
    }
    const reader = new StreamReader(controller)
    void reader.read(res.body)
    return { status: res.status, reader }
  }

  private async read(body: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end)
          buf = buf.slice(end + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim()
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
          }
          if (data.length) this.events.push({ event, data: JSON.parse(data.join('\n')) })
          this.wake()
        }
      }
    } catch {}
    this.ended = true
    this.wake()
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w()
  }

  /** The first event from index `from` on that matches, within `ms`. */
  async next(what: string, match: (e: StreamEvent) => boolean, ms = 20_000, from = 0): Promise<StreamEvent> {
    const deadline = Date.now() + ms
    for (;;) {
      const found = this.events.slice(from).find(match)
      if (found) return found
      if (this.ended) throw new Error(`${what}: the stream ended; got ${this.brief()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${what}: not within ${ms} ms; got ${this.brief()}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  /** Resolves once the server has ended the stream, within `ms`. */
  async end(ms = 10_000) {
    const deadline = Date.now() + ms
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`the stream did not end within ${ms} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  brief() {
    return this.events.slice(-15).map((e) => `${e.event}:${JSON.stringify(e.data).slice(0, 80)}`).join(' | ')
  }

  close() {
    this.controller.abort()
  }
}
