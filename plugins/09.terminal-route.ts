import { createApp, defineEventHandler, type H3Event } from 'h3'
import { defineNitroPlugin } from 'nitropack/runtime'
import { guardRequest } from '#server/http/guards'
import { setSecurityHeaders } from '#server/http/security-headers'
import terminalRoute from '../routes/api/terminal.get'

const isTerminalGet = (event: H3Event) => event.method === 'GET' && (event.path === '/api/terminal' || event.path.startsWith('/api/terminal?'))

// In a boot storm every terminal of a room asks `GET /api/terminal` at once. It is answered by an
// app of its own, ahead of Nitro's: the same security headers, guards and handler
// (routes/api/terminal.get.ts) and the same error handler (errors rise to Nitro's listener), but
// none of the per-request set-up of Nitro's app (fetch helpers, request hooks), its static files,
// route rules or router, which it does not use. A request hook added to Nitro's app does not run
// for it: add it here too.
export default defineNitroPlugin((nitro) => {
  const terminalApp = createApp({ onRequest: setSecurityHeaders })
  terminalApp.use(defineEventHandler(async (event) => {
    await guardRequest(event)
    return terminalRoute(event)
  }))
  const everything = nitro.h3App.handler
  nitro.h3App.handler = defineEventHandler((event) => (isTerminalGet(event) ? terminalApp.handler(event) : everything(event)))
})
