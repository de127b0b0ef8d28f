import { defineEventHandler } from 'h3'
import { VmId } from '#schemas/vms'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { consoleSocket } from '#server/vms/console'
import { readId } from '#server/http/input'

// The console page asks first: a refused WebSocket upgrade's status and reason never reach the
// browser's script, this answer does.
export default defineEventHandler(async (event) => {
  await consoleSocket(await useContext(), await useReconciler(), readId(event, 'id', VmId))
  return { available: true }
})
