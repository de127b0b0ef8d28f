// Bundles the CLI next to the server build: `.output/cli/labvirt.mjs`, or under LABVIRT_OUTPUT_DIR
// (parallel test runs and benches build side by side and must not share one CLI bundle). Its
// packages are bundled in, so the bundle runs wherever it lives.
import { build } from 'esbuild'
import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parsePo } from './po-catalog.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
// The gettext catalogs go into the bundle compiled (bin/cli/i18n.ts installs them).
const catalogs = Object.fromEntries(
  readdirSync(resolve(root, 'locales')).flatMap((f) => {
    const m = /^([a-z]{2})\.po$/.exec(f)
    return m ? [[m[1], parsePo(readFileSync(resolve(root, 'locales', f)))]] : []
  }),
)
await build({
  entryPoints: [resolve(root, 'bin/cli/main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  define: { __LABVIRT_CATALOGS__: JSON.stringify(catalogs) },
  // Bundled CommonJS packages (cross-spawn, under execa) require Node's built-ins.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  outfile: resolve(root, process.env.LABVIRT_OUTPUT_DIR || '.output', 'cli/labvirt.mjs'),
})
