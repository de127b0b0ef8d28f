import { defineEventHandler } from 'h3'
import { useContext } from '../../../server/context'
import { endSession } from '../../../server/auth/sessions'
import { clearSessionCookie, sessionToken } from '../../../server/http/session'

export default defineEventHandler(async (event) => {
  const { store } = await useContext()
  await endSession(store, sessionToken(event))
  clearSessionCookie(event)
  return { ok: true }
})
