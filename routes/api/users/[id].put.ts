import { defineEventHandler } from 'h3'
import { UserUpdate } from '#schemas/users'
import { useContext } from '#server/context'
import { updateUser } from '#server/auth/users'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, UserUpdate)
  return updateUser((await useContext()).store, actorOf(event), id, input)
})
