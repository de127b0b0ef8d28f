import { defineEventHandler } from 'h3'
import { ClientUpdate } from '#schemas/clients'
import { useContext } from '#server/context'
import { updateClient } from '#server/clients/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, ClientUpdate)
  return updateClient((await useContext()).store, actorOf(event), id, input)
})
