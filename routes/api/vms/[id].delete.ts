import { defineEventHandler, setResponseStatus } from 'h3'
import { VmId } from '#schemas/vms'
import { useContext } from '#server/context'
import { deleteManual } from '#server/vms/manual'
import { readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  await deleteManual(await useContext(), actorOf(event), readId(event, 'id', VmId))
  setResponseStatus(event, 204)
  return null
})
