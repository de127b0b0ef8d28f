import { N_ } from '#schemas/msgid'
import { createConnection, type Socket } from 'node:net'
import * as v from 'valibot'
import type { defineWebSocketHandler } from 'h3'
import { VmId } from '#schemas/vms'
import { useContext } from '../context'
import { useReconciler } from '../reconcile'
import { userOfSession } from '../auth/sessions'
import { AuthError, DomainError, NotFoundError } from '../errors'
import { type Language, negotiateLanguage, translate } from '../i18n'
import { useConsoleSessions } from '../live/console-sessions'
import { consoleSocket } from '../vms/console'
import { errorBodyIn } from './error-handler'
import { isSameOrigin } from './origin'
import { sessionTokenOf } from './session'

type Hooks = Parameters<typeof defineWebSocketHandler>[0]
type Peer = Parameters<NonNullable<Hooks['open']>>[0]

/** Close codes of the console's WebSocket, with the reason in the user's language. */
export const VNC_CLOSE = {
  /** The VM's VNC socket closed: QEMU exited, or the VM was stopped or restarted. */
  closed: 4000,
  /** The VM's VNC socket could not be opened (QEMU gone, socket left behind). */
  unreachable: 4001,
  /** The session was signed out or expired, or its user deleted or no longer an admin. */
  sessionEnded: 4002,
} as const

/** Above this much unsent to the browser, the VM's socket is paused until it drains below LOW. */
const HIGH_WATER = 1 << 20
const LOW_WATER = 1 << 18
const DRAIN_POLL_MS = 10

const PATH = /^\/api\/vms\/([^/]+)\/vnc\/?$/

interface ConsoleContext {
  vnc: string
  lang: Language
  token: string | undefined
  sessions: ReturnType<typeof useConsoleSessions>
  socket?: Socket
  unwatch?: () => void
}

// A WebSocket close reason is at most 123 bytes of UTF-8.
function closeReason(text: string) {
  let out = text
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}

function refusal(err: unknown, lang: Language): Response {
  const body = errorBodyIn(err instanceof DomainError ? err : { cause: err }, lang)
  return new Response(JSON.stringify(body), {
    status: body.statusCode as number,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  })
}

/**
 * Everything is checked before the upgrade (middleware does not run for one): a session, the admin
 * role, LabVirt's own Origin, and a VM whose console this host can open. A refusal is an HTTP
 * answer, so no VNC connection is ever made for it.
 */
async function upgrade(request: Request & { context: Record<string, unknown> }) {
  const url = new URL(request.url)
  const lang = negotiateLanguage(url.searchParams.get('lang') ?? request.headers.get('accept-language'))
  try {
    const ctx = await useContext()
    const token = sessionTokenOf(request.headers.get('cookie'))
    const user = await userOfSession(ctx.store, token)
    if (!user) throw new AuthError(401, N_('Please sign in'))
    if (user.role !== 'admin') throw new AuthError(403, N_('Only administrators may open a VM\'s console'))
    if (!isSameOrigin(request, ctx.config.publicUrl)) throw new AuthError(403, N_('A console opens only from LabVirt\'s own pages'))
    const raw = decodeURIComponent(PATH.exec(url.pathname)?.[1] ?? '')
    if (!v.is(VmId, raw)) throw new NotFoundError(N_('VM'), raw)
    const vnc = await consoleSocket(ctx, await useReconciler(), raw)
    Object.assign(request.context, { vnc, lang, token, sessions: useConsoleSessions(ctx.store) } satisfies ConsoleContext)
  } catch (err) {
    // crossws answers a thrown Response as it is; anything else would be an unhandled rejection.
    throw refusal(err, lang)
  }
}

function open(peer: Peer) {
  const c = peer.context as unknown as ConsoleContext
  const socket = createConnection({ path: c.vnc })
  c.socket = socket
  let opened = false
  const close = (code: number, msgid: string) => {
    peer.close(code, closeReason(translate(c.lang, msgid, {})))
  }
  // The session is checked again whenever it may have ended, not only at the upgrade.
  c.unwatch = c.sessions.watch(c.token, () => {
    if (peer.websocket.readyState === 1) close(VNC_CLOSE.sessionEnded, N_('Your session ended: sign in again'))
    socket.destroy()
  })
  socket.on('connect', () => (opened = true))
  socket.on('data', (chunk) => {
    peer.send(chunk)
    // Backpressure: a slow browser must not make this process buffer the VM's whole screen.
    if (peer.websocket.bufferedAmount! > HIGH_WATER) {
      socket.pause()
      const drain = () => {
        if (socket.destroyed) return
        if (peer.websocket.bufferedAmount! > LOW_WATER) setTimeout(drain, DRAIN_POLL_MS)
        else socket.resume()
      }
      setTimeout(drain, DRAIN_POLL_MS)
    }
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    if (peer.websocket.readyState !== 1) return
    if (opened) close(VNC_CLOSE.closed, N_('The VM\'s screen closed: the VM stopped or restarted'))
    else close(VNC_CLOSE.unreachable, N_('The VM\'s screen could not be opened: is it running?'))
  })
}

function end(peer: Peer) {
  const c = peer.context as unknown as ConsoleContext
  c.socket?.destroy()
  c.unwatch?.()
}

/** The console's WebSocket: an authenticated byte pipe to the VM's unix VNC socket (RFB). */
export const vncHooks: Hooks = {
  upgrade: upgrade as NonNullable<Hooks['upgrade']>,
  open,
  message(peer, message) {
    (peer.context as unknown as ConsoleContext).socket?.write(message.rawData as Buffer)
  },
  close: end,
  error: end,
}
