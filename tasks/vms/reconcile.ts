import { defineTask } from 'nitropack/runtime'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'

export default defineTask({
  meta: { name: 'vms:reconcile', description: "Make this host's QEMU processes match desired state (one reconcile pass)" },
  async run() {
    // A server started with LABVIRT_RECONCILE=0 runs no VMs, whoever asks.
    if (!(await useContext()).config.reconcile) return { result: undefined }
    return { result: await (await useReconciler()).runPass() }
  },
})
