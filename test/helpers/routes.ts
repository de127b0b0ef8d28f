import { readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'

const ROOT = resolve(__dirname, '../..')

export interface Route {
  file: string
  method: string
  /** The route's pattern, e.g. /api/labs/[id] */
  pattern: string
  /** A concrete path to call, `[id]` -> `x1`. */
  path: string
}

/**
 * Every route file of `routes/`, as the method and path Nitro serves it under (file-system
 * routing), so a test over them cannot miss a route added later. A file without a method suffix
 * answers every method: it is listed once per method of `anyMethod`.
 */
export function discoverRoutes(anyMethod: string[]): Route[] {
  const dir = join(ROOT, 'routes')
  const out: Route[] = []
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) {
        walk(p)
        continue
      }
      const m = /^(.*?)(?:\.(get|post|put|patch|delete|head|options))?\.(?:[cm]?[jt]s)$/.exec(name)
      if (!m || name.endsWith('.d.ts')) continue
      const segments = relative(dir, join(d, m[1]!)).split(sep)
      if (segments.at(-1) === 'index') segments.pop()
      const pattern = `/${segments.join('/')}`
      const path = `/${segments.map((s) => s.replace(/^\[\.\.\.\w*\]$/, 'x1/y1').replace(/\[(\w+)\]/g, 'x1')).join('/')}`
      for (const method of m[2] ? [m[2].toUpperCase()] : anyMethod) out.push({ file: relative(ROOT, p), method, pattern, path })
    }
  }
  walk(dir)
  return out
}
