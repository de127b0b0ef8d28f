import { N_ } from '#schemas/msgid'
import type { Api } from './api'
import { t } from './i18n'

/** The demo lab (server/demo.ts holds its content): the tiny Linux guest's image, a profile and a 2-seat lab. */
export async function demo(api: Api) {
  const answer = await api.call<{ warning?: string }>('POST', '/api/demo', {})
  if (answer.warning) console.error(answer.warning)
  console.log(t(N_('Demo lab ready: 2 seats start now; see them with: labvirt vm list')))
}
