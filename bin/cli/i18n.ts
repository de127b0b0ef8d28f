import { parsePo } from '../../server/i18n/po'
import { negotiateLanguage, setCatalogs, translate, type Language } from '../../server/i18n'
import type { Params } from '../../server/errors'

// The .po texts are compiled into the bundle (scripts/build-cli.mjs), so the CLI needs no locales/
// beside it wherever it is built to.
declare const __LABVIRT_PO__: Record<string, string> | undefined
const texts = typeof __LABVIRT_PO__ === 'undefined' ? {} : __LABVIRT_PO__
setCatalogs(Object.fromEntries(Object.entries(texts).map(([lang, po]) => [lang, parsePo(po)])))

const lang: Language = negotiateLanguage((process.env.LC_ALL || process.env.LC_MESSAGES || process.env.LANG || '').split('.')[0]!.replace('_', '-'))

export const t = (msgid: string, params?: Params) => translate(lang, msgid, params)
