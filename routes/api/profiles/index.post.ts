import { defineEventHandler, setResponseStatus } from 'h3'
import { ProfileCreate } from '#schemas/profiles'
import { useContext } from '#server/context'
import { createProfile } from '#server/profiles/index'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, ProfileCreate)
  const created = await createProfile((await useContext()).store, actorOf(event), input)
  setResponseStatus(event, 201)
  return created
})
