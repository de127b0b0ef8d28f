import { defineEventHandler, setResponseStatus } from 'h3'
import { ManualCreate } from '#schemas/vms'
import { useContext } from '#server/context'
import { createManual } from '#server/vms/manual'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, ManualCreate)
  const vm = await createManual(await useContext(), actorOf(event), input)
  setResponseStatus(event, 201)
  return vm
})
