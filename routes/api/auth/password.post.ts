import { defineEventHandler } from 'h3'
import { OwnPassword } from '#schemas/users'
import { useContext } from '#server/context'
import { changeOwnPassword } from '#server/auth/users'
import { loginThrottle } from '#server/auth/throttle'
import { readBody } from '#server/http/input'
import { clientAddress } from '#server/http/client'
import { currentUser, setSessionCookie } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const { store, config } = await useContext()
  const input = await readBody(event, OwnPassword)
  const { token, user } = await changeOwnPassword(store, loginThrottle, clientAddress(event, config.trustProxy), currentUser(event).username, input)
  setSessionCookie(event, token, config)
  return user
})
