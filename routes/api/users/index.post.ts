import { defineEventHandler, setResponseStatus } from 'h3'
import { UserCreate } from '#schemas/users'
import { useContext } from '#server/context'
import { createUser } from '#server/auth/users'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, UserCreate)
  const created = await createUser((await useContext()).store, actorOf(event), input)
  setResponseStatus(event, 201)
  return created
})
