import { defineNitroPlugin } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { ConnectionWatcher } from '#server/network/connections'
import { terminalAtAddress } from '#server/terminals/identify'

// Who is connected is watched by the host that runs the VMs, so only where the reconciler runs.
export default defineNitroPlugin((nitro) => {
  const watcher = useContext().then(async (ctx) => {
    if (!ctx.config.reconcile || ctx.config.connectionTracking === 'off') return undefined
    const reconciler = await useReconciler()
    const w = new ConnectionWatcher(ctx, {
      consoles: () => reconciler.consoleCounts(),
      changed: () => reconciler.trigger(),
      terminalAt: (ip) => terminalAtAddress(ctx.store, ip),
    })
    w.start()
    return w
  })
  watcher.catch((err) => console.error('[labvirt] connection watcher not started:', err))
  nitro.hooks.hook('close', async () => (await watcher.catch(() => undefined))?.stop())
})
