import type { Catalog } from '../../scripts/po-catalog.mjs'
import type { Msg, Params } from '../errors'

export const LANGUAGES = ['en', 'es'] as const
export type Language = (typeof LANGUAGES)[number]
export const DEFAULT_LANGUAGE: Language = 'en'

let catalogs: Partial<Record<Language, Catalog>> = {}

/** Installs the compiled catalogs (done once at start by the i18n plugin, or by a test). */
export function setCatalogs(next: Partial<Record<Language, Catalog>>) {
  catalogs = next
}

/** Picks the best language we ship from an Accept-Language header. */
export function negotiateLanguage(header: string | undefined | null): Language {
  if (!header) return DEFAULT_LANGUAGE
  const ranked = header
    .split(',')
    .map((part, index) => {
      const [tag = '', ...rest] = part.trim().split(';')
      const q = rest.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean)
      return { lang: tag.trim().toLowerCase().split('-')[0]!, q: q === undefined ? 1 : Number(q), index }
    })
    .filter((r) => r.q > 0 && !Number.isNaN(r.q))
    .sort((a, b) => b.q - a.q || a.index - b.index)
  for (const r of ranked) {
    if ((LANGUAGES as readonly string[]).includes(r.lang)) return r.lang as Language
  }
  return DEFAULT_LANGUAGE
}

function paramText(lang: Language, value: Params[string]): string {
  if (Array.isArray(value)) return value.map((m) => translate(lang, m.msgid, m.params)).join('; ')
  if (typeof value === 'object' && 'number' in value) {
    const digits = value.fractionDigits
    return new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits ?? 20 }).format(value.number)
  }
  if (typeof value === 'object') return translate(lang, value.msgid, value.params)
  return String(value)
}

/** Translates a msgid and fills `{name}` placeholders (themselves translated when they are Msgs). */
export function translate(lang: Language, msgid: string, params: Params = {}): string {
  const text = catalogs[lang]?.[msgid] || msgid
  return text.replace(/\{(\w+)\}/g, (all, name: string) => (name in params ? paramText(lang, params[name]!) : all))
}

export const translateMsg = (lang: Language, m: Msg) => translate(lang, m.msgid, m.params)
