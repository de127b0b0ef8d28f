import { defineNitroPlugin } from 'nitropack/runtime'
import { closeContext, markStarted, useContext } from '#server/context'
import { bootstrapAdmin } from '#server/auth/users'
import { DataDirLockedError } from '#storage/dir-lock'
import { ConfigError } from '#server/config'

// The store may be unreachable at start (Redis not up yet): the API answers 503 meanwhile and the
// admin bootstrap retries until it gets through.
async function bootstrap(attempt = 0): Promise<void> {
  try {
    const { store, config } = await useContext()
    const generated = await bootstrapAdmin(store, config.adminPassword)
    markStarted()
    if (generated) {
      console.log(`\n  LabVirt: created user "admin" with password ${generated}\n  (shown once; set LABVIRT_ADMIN_PASSWORD to reset it)\n`)
    }
  } catch (err) {
    if (err instanceof DataDirLockedError || err instanceof ConfigError) {
      console.error(`[labvirt] ${err.message}`)
      process.exit(1)
    }
    if (attempt === 0) console.error('[labvirt] store not ready, retrying:', (err as Error).message)
    setTimeout(() => void bootstrap(attempt + 1), Math.min(1000 * (attempt + 1), 5000)).unref()
  }
}

export default defineNitroPlugin((nitro) => {
  void bootstrap()
  nitro.hooks.hook('close', closeContext)
})
