import { defineEventHandler, setResponseStatus } from 'h3'
import { useContext } from '#server/context'
import { health } from '#server/health'
import { userOfSession } from '#server/auth/sessions'
import { latestChecks } from '#server/host-checks/index'
import { translateMsg } from '#server/i18n/index'
import { languageOf } from '#server/http/language'
import { sessionToken } from '#server/http/session'

// Public: ok or not. A signed-in caller also gets the host checks, in their language.
export default defineEventHandler(async (event) => {
  const ctx = await useContext()
  const answer = await health(ctx)
  const user = await userOfSession(ctx.store, sessionToken(event)).catch(() => undefined)
  if (!user) {
    if (!answer.ok) setResponseStatus(event, 503)
    return answer
  }
  const lang = languageOf(event)
  const checks = (await latestChecks(ctx)).map((c) => ({ ...c, message: translateMsg(lang, c.message) }))
  const ok = answer.ok && checks.every((c) => c.level !== 'error')
  if (!ok) setResponseStatus(event, 503)
  return { ...answer, ok, checks }
})
