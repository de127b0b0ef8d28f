import { defineEventHandler, setResponseStatus } from 'h3'
import { DeleteQuery } from '#schemas/common'
import { useContext } from '#server/context'
import { deleteProfile } from '#server/profiles/index'
import { readId, readQuery } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const { revision } = readQuery(event, DeleteQuery)
  await deleteProfile(await useContext(), actorOf(event), id, revision)
  setResponseStatus(event, 204)
  return null
})
