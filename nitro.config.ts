import { readFileSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineNitroConfig } from 'nitropack/config'
import { parsePo } from './scripts/po-catalog.mjs'

// The gettext catalogs are compiled into the server bundle, so the built output needs no locales/.
function catalogs() {
  const dir = new URL('./locales/', import.meta.url)
  const out: Record<string, Record<string, string>> = {}
  for (const file of readdirSync(dir)) {
    const m = /^([a-z]{2})\.po$/.exec(file)
    if (m) out[m[1]!] = parsePo(readFileSync(new URL(file, dir), 'utf8'))
  }
  return out
}

// LABVIRT_OUTPUT_DIR lets several builds (parallel test runs, a bench) live side by side.
const outputDir = process.env.LABVIRT_OUTPUT_DIR
// Where ui/vite.config.ts put the console: beside such a build (not inside: Nitro empties its
// output), else ui/dist.
const uiDist = outputDir ? `${resolve(outputDir)}-ui` : 'ui/dist'

export default defineNitroConfig({
  compatibilityDate: '2026-11-01',
  srcDir: '.',
  preset: 'node-server',
  // Explicit imports everywhere: server/ and storage/ must load under plain vitest too.
  imports: false,
  errorHandler: '~/server/http/error-handler',
  experimental: { tasks: true, websocket: true },
  // A fixed-answer route for bench/boot-storm's floor (LABVIRT_BENCH_FLOOR=1 at build time only):
  // what any route of this app costs before it does its own work. Never in a normal build.
  handlers: process.env.LABVIRT_BENCH_FLOOR === '1' ? [{ route: '/bench/floor', method: 'get', handler: './bench/floor-route.ts' }] : [],
  scheduledTasks: { '17 * * * *': ['store:sweep'], '* * * * *': ['host:checks'], '*/10 * * * *': ['versions:clean'], '30 3 * * *': ['host:images'] },
  virtual: {
    '#labvirt-catalogs': () => `export default ${JSON.stringify(catalogs())}`,
  },
  // The console (ui/, built first by Vite): hashed assets cached for good, index.html served by
  // routes/[...].ts for every client route.
  publicAssets: [{ dir: `${uiDist}/assets`, baseURL: '/assets', maxAge: 31_536_000 }],
  serverAssets: [{ baseName: 'spa', dir: uiDist, pattern: 'index.html' }],
  compressPublicAssets: { gzip: true, brotli: true },
  ...(outputDir ? { output: { dir: outputDir }, buildDir: `${outputDir}/.nitro` } : {}),
  ignore: ['test/**', 'bench/**', 'ui/**', 'bin/**', 'terminal/**', 'data/**'],
})
