import { createError, defineEventHandler, setResponseHeader } from 'h3'
import { useStorage } from 'nitropack/runtime'

/**
 * The console's client routes (`/`, `/labs/x`) all answer its index.html, never cached so a new
 * build is picked up at once. Unknown API paths and anything that looks like a file stay 404.
 */
export default defineEventHandler(async (event) => {
  // `//api/x` and `/API/x` are API paths too: never answered with the page.
  const path = event.path.split('?')[0]!.replace(/\/{2,}/g, '/').toLowerCase()
  const notFound = createError({ statusCode: 404 })
  if (path === '/api' || path.startsWith('/api/') || /\.[^/]*$/.test(path)) throw notFound
  const html = await useStorage('assets:spa').getItem<string>('index.html')
  if (!html) throw notFound
  setResponseHeader(event, 'cache-control', 'no-cache')
  setResponseHeader(event, 'content-type', 'text/html; charset=utf-8')
  return html
})
