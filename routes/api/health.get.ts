import { defineEventHandler, setResponseStatus } from 'h3'
import { useContext } from '#server/context'
import { health } from '#server/health'
import { userOfSession } from '#server/auth/sessions'
import { latestChecks } from '#server/host-checks/index'
import { translateMsg } from '#server/i18n/index'
import { languageOf } from '#server/http/language'
import { sessionToken } from '#server/http/session'

// Public: ok or not. A signed-in caller also gets the host checks, in their language (kept 90 s,
// so a load balancer's polling does not run them each time).
export default defineEventHandler(async (event) => {
  const ctx = await useContext()
  // At once, not one after another: with the store hung each waits out the store's timeout.
  const [answer, user, results] = await Promise.all([
    health(ctx),
    userOfSession(ctx.store, sessionToken(event)).catch(() => undefined),
    latestChecks(ctx),
  ])
  if (!user) {
    if (!answer.ok) setResponseStatus(event, 503)
    return answer
  }
  const lang = languageOf(event)
  const checks = results.map((c) => ({ ...c, message: translateMsg(lang, c.message) }))
  const ok = answer.ok && checks.every((c) => c.level !== 'error')
  if (!ok) setResponseStatus(event, 503)
  return { ...answer, ok, checks }
})
