import { N_ } from '../../schemas/msgid'
import type { Api } from './api'
import { t } from './i18n'

/** The demo lab (server/demo.ts holds its content): an image, a profile and a 2-seat lab. */
export async function demo(api: Api) {
  await api.call('POST', '/api/demo', {})
  console.log(t(N_('Demo lab ready: 2 seats start now; see them with: labvirt vm list')))
}
