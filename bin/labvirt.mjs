#!/usr/bin/env node
// The CLI is TypeScript, bundled by `npm run build` next to the server.
import '../.output/cli/labvirt.mjs'
