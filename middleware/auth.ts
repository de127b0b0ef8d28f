import { N_ } from '#schemas/msgid'
import { defineEventHandler } from 'h3'
import { accessFor, allows } from '#server/auth/policy'
import { userOfSession } from '#server/auth/sessions'
import { publicUser } from '#server/auth/users'
import { AuthError } from '#server/errors'
import { sessionToken } from '#server/http/session'
import { useContext } from '#server/context'

export default defineEventHandler(async (event) => {
  const access = accessFor(event.method, event.path)
  if (access === 'public') return
  const { store } = await useContext()
  const user = await userOfSession(store, sessionToken(event))
  if (!user) throw new AuthError(401, N_('Please sign in'))
  event.context.user = publicUser(user)
  if (!allows(access, user.role)) throw new AuthError(403, N_('Your role may not change anything'))
})
