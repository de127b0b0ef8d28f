#!/usr/bin/env node
// The CLI is TypeScript, bundled by `npm run build` next to the server (LABVIRT_OUTPUT_DIR, if set).
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
await import(pathToFileURL(resolve(root, process.env.LABVIRT_OUTPUT_DIR || '.output', 'cli/labvirt.mjs')).href)
