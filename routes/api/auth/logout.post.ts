import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { logout } from '#server/auth/users'
import { clientAddress } from '#server/http/client'
import { clearSessionCookie, sessionToken } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const { store, config } = await useContext()
  await logout(store, sessionToken(event), clientAddress(event, config.trustProxy))
  clearSessionCookie(event)
  return { ok: true }
})
