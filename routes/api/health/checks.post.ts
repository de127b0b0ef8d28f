import { defineEventHandler } from 'h3'
import { runTask } from 'nitropack/runtime'
import type { CheckResult } from '#schemas/host-checks'
import { translateMsg } from '#server/i18n/index'
import { languageOf } from '#server/http/language'

// Admins (the default for a POST, server/auth/policy.ts) run the host checks now, the nightly image
// check too: production Nitro has no /_nitro/tasks, and tests run with scheduled tasks off.
export default defineEventHandler(async (event) => {
  const [quick, nightly] = await Promise.all([runTask<CheckResult[]>('host:checks'), runTask<CheckResult[]>('host:images')])
  const result = [...(quick.result ?? []), ...(nightly.result ?? [])]
  const lang = languageOf(event)
  return { checks: result.map((c) => ({ ...c, message: translateMsg(lang, c.message) })) }
})
