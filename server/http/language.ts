import { type H3Event, getRequestHeader } from 'h3'
import { negotiateLanguage } from '../i18n'

/** The caller's language, from Accept-Language, among those LabVirt ships. */
export function languageOf(event: H3Event) {
  return negotiateLanguage(getRequestHeader(event, 'accept-language'))
}
