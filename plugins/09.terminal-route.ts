import { defineEventHandler } from 'h3'
import { defineNitroPlugin } from 'nitropack/runtime'
import { guardRequest } from '#server/http/guards'
import terminalRoute from '../routes/api/terminal.get'

const isTerminalGet = (path: string, method: string) => method === 'GET' && (path === '/api/terminal' || path.startsWith('/api/terminal?'))

// In a boot storm every terminal of a room asks `GET /api/terminal` at once: it goes first, ahead
// of the static files, the route rules (none apply to it) and the router, through the same guards
// and the same handler (routes/api/terminal.get.ts). The request hook (security headers) and the
// error handler still apply: they are the app's, not its stack's.
export default defineNitroPlugin((nitro) => {
  nitro.h3App.stack.unshift({
    route: '/',
    match: (path, event) => isTerminalGet(path, event?.method ?? ''),
    handler: defineEventHandler(async (event) => {
      await guardRequest(event)
      return terminalRoute(event)
    }),
  })
})
