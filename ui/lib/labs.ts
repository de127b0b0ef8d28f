import { N_ } from './i18n'

/** A lab's network mode, as the console names it. */
export const MODE_LABEL: Record<string, string> = {
  user: N_('User mode'),
  bridge: N_('Bridge'),
  tap: N_('Tap'),
}
