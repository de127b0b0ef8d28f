import { defineEventHandler, setResponseStatus } from 'h3'
import { MaintenanceAction } from '#schemas/vms'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { startMaintenance, stopMaintenance } from '#server/vms/index'
import { discard, promote, publish, rollback, startOverlay } from '#server/profiles/versions'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const body = await readBody(event, MaintenanceAction)
  const [ctx, reconciler] = await Promise.all([useContext(), useReconciler()])
  const actor = actorOf(event)
  switch (body.action) {
    case 'start':
      return body.mode === 'overlay' ? startOverlay(ctx, reconciler, actor, id, body) : startMaintenance(ctx, reconciler, actor, id, body)
    case 'stop':
      return stopMaintenance(ctx, reconciler, actor, id)
    case 'publish': {
      const job = await publish(ctx, reconciler, actor, id, body)
      setResponseStatus(event, 202)
      return { job }
    }
    case 'discard':
      return discard(ctx, reconciler, actor, id)
    case 'rollback':
      return rollback(ctx, reconciler, actor, id)
    case 'promote':
      return promote(ctx, reconciler, actor, id, body)
  }
})
