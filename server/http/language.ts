import { type H3Event, getQuery, getRequestHeader } from 'h3'
import { negotiateLanguage } from '../i18n'

/**
 * The caller's language among those LabVirt ships: `?lang=` first (an EventSource cannot set
 * Accept-Language, so the console's live stream names the chosen language there), else
 * Accept-Language.
 */
export function languageOf(event: H3Event) {
  const lang = getQuery(event).lang
  return negotiateLanguage(typeof lang === 'string' && lang ? lang : getRequestHeader(event, 'accept-language'))
}
