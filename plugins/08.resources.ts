import { defineNitroPlugin, runTask } from 'nitropack/runtime'
import { useContext } from '#server/context'

// Every LABVIRT_SAMPLE_INTERVAL seconds, not by cron: Nitro's schedule counts in minutes. The task
// runner hands a tick that comes while a sample is still under way the same run, so they never pile up.
export default defineNitroPlugin((nitro) => {
  const timer = useContext().then((ctx) => {
    const ms = ctx.config.sampleIntervalMs
    if (!ms) return undefined
    const sample = () => void runTask('resources:sample').catch((err) => console.error('[labvirt] resource sample failed:', (err as Error).message))
    sample()
    return setInterval(sample, ms).unref()
  })
  timer.catch((err) => console.error('[labvirt] resource sampling not started:', err))
  nitro.hooks.hook('close', async () => clearInterval(await timer.catch(() => undefined)))
})
