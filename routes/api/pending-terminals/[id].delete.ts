import { defineEventHandler, setResponseStatus } from 'h3'
import { PendingId } from '#schemas/terminal-api'
import { useContext } from '#server/context'
import { deletePending } from '#server/terminals/pending'
import { readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event, 'id', PendingId)
  await deletePending((await useContext()).store, actorOf(event), id)
  setResponseStatus(event, 204)
  return null
})
