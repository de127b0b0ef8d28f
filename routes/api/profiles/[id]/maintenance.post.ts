import { defineEventHandler } from 'h3'
import { MaintenanceAction } from '#schemas/vms'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { startMaintenance, stopMaintenance } from '#server/vms/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const body = await readBody(event, MaintenanceAction)
  const [ctx, reconciler] = await Promise.all([useContext(), useReconciler()])
  return body.action === 'start'
    ? startMaintenance(ctx, reconciler, actorOf(event), id, body)
    : stopMaintenance(ctx, reconciler, actorOf(event), id)
})
