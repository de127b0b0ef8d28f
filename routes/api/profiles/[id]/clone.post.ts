import { defineEventHandler, setResponseStatus } from 'h3'
import { ProfileClone } from '#schemas/jobs'
import { useContext } from '#server/context'
import { cloneProfile } from '#server/profiles/clone'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, ProfileClone)
  const job = await cloneProfile(await useContext(), actorOf(event), id, input)
  setResponseStatus(event, 202)
  return { job }
})
