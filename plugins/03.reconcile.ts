import { defineNitroPlugin, runTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { type TickSummary, useReconciler } from '#server/reconcile/index'

// VMs outlive LabVirt (they are daemonized): on start the loop adopts whatever runs, on close it
// only lets go of them. Its passes (loop, store changes, QMP exits, admins' actions) are runs of
// the `vms:reconcile` task, like the rest of LabVirt's scheduled work.
export default defineNitroPlugin((nitro) => {
  const reconciler = useContext().then(async (ctx) => {
    if (!ctx.config.reconcile) return undefined
    const r = await useReconciler()
    r.start(async () => (await runTask<TickSummary>('vms:reconcile')).result!)
    return r
  })
  reconciler.catch((err) => console.error('[labvirt] reconciler not started:', err))
  nitro.hooks.hook('close', async () => (await reconciler.catch(() => undefined))?.stop())
})
