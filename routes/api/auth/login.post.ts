import { defineEventHandler } from 'h3'
import { Login } from '#schemas/users'
import { useContext } from '#server/context'
import { login } from '#server/auth/users'
import { loginThrottle } from '#server/auth/throttle'
import { readBody } from '#server/http/input'
import { clientAddress } from '#server/http/client'
import { setSessionCookie } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const { store, config } = await useContext()
  const body = await readBody(event, Login)
  const { token, user } = await login(store, loginThrottle, clientAddress(event, config.trustProxy), body.username, body.password)
  setSessionCookie(event, token, config)
  return user
})
