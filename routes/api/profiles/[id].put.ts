import { defineEventHandler } from 'h3'
import { ProfileUpdate } from '#schemas/profiles'
import { useContext } from '#server/context'
import { updateProfile } from '#server/profiles/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, ProfileUpdate)
  return updateProfile((await useContext()).store, actorOf(event), id, input)
})
