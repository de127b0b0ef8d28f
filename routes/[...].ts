import { createError, defineEventHandler, setResponseHeader } from 'h3'
import { useStorage } from 'nitropack/runtime'

/**
 * The console's client routes (`/`, `/labs/x`) all answer its index.html to GET and HEAD, never
 * cached so a new build is picked up at once. Unknown API paths (however spelled: `//api/x`,
 * `/API/x`), anything that looks like a file, and every other method stay 404.
 */
export default defineEventHandler(async (event) => {
  const path = event.path.split('?')[0]!.replace(/\/{2,}/g, '/').toLowerCase()
  const notFound = createError({ statusCode: 404 })
  if (event.method !== 'GET' && event.method !== 'HEAD') throw notFound
  if (path === '/api' || path.startsWith('/api/') || /\.[^/]*$/.test(path)) throw notFound
  const html = await useStorage('assets:spa').getItem<string>('index.html')
  if (!html) throw notFound
  setResponseHeader(event, 'cache-control', 'no-cache')
  setResponseHeader(event, 'content-type', 'text/html; charset=utf-8')
  return html
})
