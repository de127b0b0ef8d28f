import { defineEventHandler } from 'h3'
import { VmAction, VmId } from '#schemas/vms'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { vmAction } from '#server/vms/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => {
  const id = readId(event, 'id', VmId)
  const { action } = await readBody(event, VmAction)
  return vmAction(await useContext(), await useReconciler(), actorOf(event), id, action, languageOf(event))
})
