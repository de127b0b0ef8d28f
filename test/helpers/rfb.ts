import WebSocket from 'ws'

/** What a console WebSocket upgrade got: refused with an HTTP status (and body), or open. */
export type ConsoleOpen = { status: number; body: any; ws?: undefined; rfb?: undefined } | { status: 101; ws: WebSocket; rfb: RfbClient; body?: undefined }

/** Opens `GET /api/vms/:id/vnc` as a browser page would: cookie, Origin, language. */
export function openConsole(url: string, vm: string, opts: { cookie?: string; origin?: string; lang?: string } = {}): Promise<ConsoleOpen> {
  const headers: Record<string, string> = {}
  if (opts.cookie) headers.cookie = opts.cookie
  if (opts.lang) headers['accept-language'] = opts.lang
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/vms/${vm}/vnc`, { headers, origin: opts.origin ?? url })
  // Reading from the start: the VM's greeting can arrive with the upgrade's answer, before a
  // listener attached once `open` resolved would hear it (ws drops a message nobody listens to).
  const rfb = new RfbClient(ws)
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ status: 101, ws, rfb }))
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c))
      res.on('end', () => {
        let body: any = text
        try {
          body = JSON.parse(text)
        } catch {}
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    ws.once('error', reject)
  })
}

/**
 * The client side of RFB 3.8 over a WebSocket, as far as a test needs: the handshake with security
 * None, then framebuffer update requests, reading exactly the bytes it asks for.
 */
export class RfbClient {
  private buf = Buffer.alloc(0)
  private wake: (() => void) | undefined
  closed: { code: number; reason: string } | undefined
  constructor(private ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.buf = Buffer.concat([this.buf, data])
      this.wake?.()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      this.wake?.()
    })
  }

  async read(n: number, ms = 15_000): Promise<Buffer> {
    const deadline = Date.now() + ms
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) after ${this.buf.length}/${n} bytes`)
      if (Date.now() > deadline) throw new Error(`only ${this.buf.length}/${n} bytes within ${ms} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100)
        this.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  send(bytes: number[] | Buffer) {
    this.ws.send(Buffer.from(bytes))
  }

  /** Version, security None, ClientInit (shared); returns the greeting and the ServerInit. */
  async handshake() {
    const greeting = (await this.read(12)).toString('latin1')
    this.send(Buffer.from('RFB 003.008\n', 'latin1'))
    const count = (await this.read(1))[0]!
    const types = [...(await this.read(count))]
    if (!types.includes(1)) throw new Error(`no security None among ${types}`)
    this.send([1])
    const result = (await this.read(4)).readUInt32BE(0)
    if (result !== 0) throw new Error(`security result ${result}`)
    this.send([1])
    const init = await this.read(24)
    const width = init.readUInt16BE(0)
    const height = init.readUInt16BE(2)
    const bitsPerPixel = init[4]!
    const name = (await this.read(init.readUInt32BE(20))).toString('utf8')
    return { greeting, width, height, bitsPerPixel, name }
  }

  /** A full (non-incremental) FramebufferUpdateRequest, and the raw pixels of the update it gets. */
  async frame(width: number, height: number, bytesPerPixel: number): Promise<Buffer> {
    const req = Buffer.alloc(10)
    req[0] = 3
    req.writeUInt16BE(width, 6)
    req.writeUInt16BE(height, 8)
    this.send(req)
    const head = await this.read(4)
    if (head[0] !== 0) throw new Error(`message type ${head[0]}, not a FramebufferUpdate`)
    const pixels: Buffer[] = []
    for (let i = head.readUInt16BE(2); i > 0; i--) {
      const rect = await this.read(12)
      const encoding = rect.readInt32BE(8)
      if (encoding !== 0) throw new Error(`encoding ${encoding}, not raw`)
      pixels.push(await this.read(rect.readUInt16BE(4) * rect.readUInt16BE(6) * bytesPerPixel))
    }
    return Buffer.concat(pixels)
  }
}
