import { defineEventHandler, setResponseStatus } from 'h3'
import { useContext } from '#server/context'
import { health } from '#server/health'
import { userOfSession } from '#server/auth/sessions'
import { latestChecks } from '#server/host-checks/index'
import { translateMsg } from '#server/i18n/index'
import { languageOf } from '#server/http/language'
import { sessionToken } from '#server/http/session'

// Public: ok or not of this host. A signed-in caller also gets every host's checks (this host's
// kept 90 s, so polling does not run them each time), in their language; `checks` are this host's.
export default defineEventHandler(async (event) => {
  const ctx = await useContext()
  // At once, not one after another: with the store hung each waits out the store's timeout.
  const [answer, user] = await Promise.all([health(ctx), userOfSession(ctx.store, sessionToken(event)).catch(() => undefined)])
  if (!user) {
    if (!answer.ok) setResponseStatus(event, 503)
    return answer
  }
  const lang = languageOf(event)
  const hosts = (await latestChecks(ctx)).map((h) => ({ ...h, checks: h.checks.map((c) => ({ ...c, message: translateMsg(lang, c.message) })) }))
  const checks = hosts[0]!.checks
  const ok = answer.ok && checks.every((c) => c.level !== 'error')
  if (!ok) setResponseStatus(event, 503)
  return { ...answer, ok, checks, hosts }
})
