import { defineEventHandler } from 'h3'
import { VmId } from '#schemas/vms'
import { TypeText } from '#schemas/keys'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { typeText } from '#server/vms/console'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event, 'id', VmId)
  const { text } = await readBody(event, TypeText)
  return typeText(await useContext(), await useReconciler(), actorOf(event), id, text)
})
