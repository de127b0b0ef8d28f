import { Socket } from 'node:net'
import type { ProbeKind } from '#schemas/profiles'

/** `answer`: the guest spoke; `silent`: no answer in time (or refused); `unreachable`: the host has no route to it. */
export type ProbeResult = 'answer' | 'silent' | 'unreachable'

/**
 * TPKT (version 3, length 19) + X.224 Connection Request + RDP_NEG_REQ asking for TLS or CredSSP:
 * what an RDP client sends first. Any RDP server answers with a Connection Confirm.
 */
export const X224_CONNECTION_REQUEST = Buffer.from([
  0x03, 0x00, 0x00, 0x13,
  0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00,
])

/** A TPKT header (version 3, reserved 0) and an X.224 Connection Confirm (code 0xD in the high nibble). */
export const isConnectionConfirm = (b: Buffer) => b.length >= 6 && b[0] === 0x03 && b[1] === 0x00 && (b[5]! & 0xf0) === 0xd0

const TCP_HELLO = Buffer.from('labvirt-probe\r\n')

/**
 * The local ports of this process's probe connections under way. QEMU's user-mode forward
 * accepts them like a terminal's: the connection watcher leaves them out, or a probe would count
 * as somebody on the seat.
 */
const inFlight = new Set<number>()
export const probePorts: ReadonlySet<number> = inFlight

/**
 * Probes a seat's service at `host:port` the way `kind` says; never throws, gives up after
 * `timeoutMs`. QEMU's slirp accepts on the host port at once, booted guest or not, so a connect
 * alone is never an answer: `rdp` waits for an X.224 Connection Confirm, `tcp` for any bytes back
 * after a few sent (an echo), `banner` for bytes the guest sends first.
 */
export function probe(host: string, port: number, kind: Exclude<ProbeKind, 'none'>, timeoutMs = 1000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = new Socket()
    let got = Buffer.alloc(0)
    let localPort: number | undefined
    let done = false
    const finish = (r: ProbeResult) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (localPort !== undefined) inFlight.delete(localPort)
      // A connected probe ends with a reset, not a FIN: a FIN leaves this side in TIME_WAIT for a
      // minute, and 100 seats probed every 5 s kept 1200 such lines in /proc/net/tcp, which the
      // connection watcher reads every 2 s.
      if (socket.readyState === 'open') socket.resetAndDestroy()
      else socket.destroy()
      resolve(r)
    }
    const timer = setTimeout(() => finish('silent'), timeoutMs)
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ENETUNREACH' || err.code === 'EHOSTUNREACH' ? 'unreachable' : 'silent'))
    socket.once('close', () => finish('silent'))
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]).subarray(0, 64)
      if (kind !== 'rdp' || isConnectionConfirm(got)) finish('answer')
      else if (got.length >= 6) finish('silent')
    })
    socket.connect({ host, port }, () => {
      localPort = socket.localPort
      if (localPort !== undefined) inFlight.add(localPort)
      if (kind === 'rdp') socket.write(X224_CONNECTION_REQUEST)
      else if (kind === 'tcp') socket.write(TCP_HELLO)
    })
  })
}
