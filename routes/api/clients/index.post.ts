import { defineEventHandler, setResponseStatus } from 'h3'
import { ClientCreate } from '#schemas/clients'
import { useContext } from '#server/context'
import { createClient } from '#server/clients/index'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, ClientCreate)
  const created = await createClient((await useContext()).store, actorOf(event), input)
  setResponseStatus(event, 201)
  return created
})
