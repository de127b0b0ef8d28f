import { defineNitroPlugin, runTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { BOOTING_PROBE_MS } from '#server/readiness/index'

// Readiness probes run every half second (seats not ready yet; ready ones every
// LABVIRT_PROBE_INTERVAL), which cron cannot say: a loop of this plugin runs the `seats:probe` task
// (a second run asked for while one is under way gets that one). Only where the reconciler runs:
// the probes are of the VMs this host runs.
export default defineNitroPlugin((nitro) => {
  let timer: NodeJS.Timeout | undefined
  let lastError = ''
  const run = () =>
    runTask('seats:probe').then(
      () => void (lastError = ''),
      (err) => {
        const text = (err as Error).message
        if (text !== lastError) console.error('[labvirt] seat probes failed:', text)
        lastError = text
      },
    )
  useContext()
    .then((ctx) => {
      if (!ctx.config.reconcile || ctx.config.probeIntervalMs === undefined) return
      timer = setInterval(run, Math.min(BOOTING_PROBE_MS, ctx.config.probeIntervalMs))
      timer.unref()
    })
    .catch((err) => console.error('[labvirt] seat probes not started:', err))
  nitro.hooks.hook('close', () => clearInterval(timer))
})
