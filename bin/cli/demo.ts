import { N_ } from '../../schemas/msgid'
import type { Api } from './api'
import { t } from './i18n'

/**
 * A lab a newcomer can watch run within a minute: a blank 64 MiB image, a 64 MiB profile and a
 * 2-seat lab in user networking. Idempotent: what exists is left as it is.
 */
export async function demo(api: Api) {
  const steps: [string, string, unknown][] = [
    ['/api/images', 'demo', { name: 'demo', sizeMiB: 64, description: 'LabVirt demo disk (blank)' }],
    ['/api/profiles', 'demo', { name: 'demo', memoryMiB: 64, disks: [{ image: 'demo' }], description: 'LabVirt demo profile' }],
    ['/api/labs', 'demo', { name: 'demo', size: 2, profiles: ['demo'], network: { mode: 'user' }, description: 'LabVirt demo lab' }],
  ]
  for (const [path, name, body] of steps) {
    const existing = await api.call<{ id: string }[]>('GET', path)
    if (existing.some((r) => r.id === name)) continue
    await api.call('POST', path, body)
  }
  console.log(t(N_('Demo lab ready: 2 seats start now; see them with: labvirt vm list')))
}
