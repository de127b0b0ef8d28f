#!/usr/bin/env node
// Runs one benchmark: bundles bench/<name>.ts with the project's esbuild into bench/.out/ (inside
// the repo, so its bare imports resolve against node_modules) and runs it with this node.
//   node bench/run.mjs start-overhead [--reps 25]
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const [name, ...args] = process.argv.slice(2)
const entry = name && join(here, `${name}.ts`)
if (!entry || !existsSync(entry)) {
  console.error('usage: node bench/run.mjs <start-overhead|cold-lab|reconcile-tick|boot-storm|dashboard|upload|clone|resources|...> [options]')
  process.exit(2)
}
const outfile = join(here, '.out', `${name}.mjs`)
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
})
const child = spawn(process.execPath, ['--enable-source-maps', outfile, ...args], { stdio: 'inherit' })
// Forward Ctrl-C and kills so the benchmark's own cleanup (it kills every QEMU it started) runs.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
