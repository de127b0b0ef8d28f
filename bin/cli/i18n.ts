import { negotiateLanguage, setCatalogs, translate, type Language } from '#server/i18n/index'
import type { Params } from '#server/errors'

// The catalogs are compiled into the bundle (scripts/build-cli.mjs), so the CLI needs no locales/
// beside it wherever it is built to.
declare const __LABVIRT_CATALOGS__: Record<string, Record<string, string>> | undefined
setCatalogs(typeof __LABVIRT_CATALOGS__ === 'undefined' ? {} : __LABVIRT_CATALOGS__)

const lang: Language = negotiateLanguage((process.env.LC_ALL || process.env.LC_MESSAGES || process.env.LANG || '').split('.')[0]!.replace('_', '-'))

export const t = (msgid: string, params?: Params) => translate(lang, msgid, params)
