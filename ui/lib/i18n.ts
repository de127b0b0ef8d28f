import messages from '@intlify/unplugin-vue-i18n/messages'
import { computed } from 'vue'
import { createI18n } from 'vue-i18n'

/** The languages the console ships, each named in itself for the language switch. */
export const LANGUAGES = { en: 'English', es: 'Español' } as const
export type Language = keyof typeof LANGUAGES
const STORAGE_KEY = 'labvirt.language'

const isLanguage = (l: unknown): l is Language => typeof l === 'string' && l in LANGUAGES

/** The remembered choice, else the browser's first language we ship, else English. */
function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY)
  if (isLanguage(saved)) return saved
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0]
    if (isLanguage(base)) return base
  }
  return 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLanguage(),
  fallbackLocale: 'en',
  messages: messages as Record<Language, Record<string, string>>,
  // Keys are English msgids ("Sign in.", "e.g. lab-1"): looked up whole, never as dotted paths.
  messageResolver: (obj: unknown, path: string) => ((obj as Record<string, unknown>)[path] as string | undefined) ?? null,
  missingWarn: false,
  fallbackWarn: false,
})

const global = i18n.global
export const language = computed<Language>(() => global.locale.value as Language)

export function setLanguage(lang: Language) {
  global.locale.value = lang
  localStorage.setItem(STORAGE_KEY, lang)
  document.documentElement.lang = lang
}
document.documentElement.lang = language.value

/** A msgid marked for extraction (its text is translated where it is shown, with `t(msgid)`). */
export const N_ = <T extends string>(msgid: T): T => msgid

/** Translates outside components (the same function `useI18n().t` gives them). */
export const t = (msgid: string, params?: Record<string, unknown>) => global.t(msgid, params ?? {})

// Dates, durations and numbers in the chosen language.
export const formatNumber = (n: number) => new Intl.NumberFormat(language.value).format(n)
export const formatDateTime = (iso: string) => new Intl.DateTimeFormat(language.value, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso))

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [['day', 86_400], ['hour', 3600], ['minute', 60], ['second', 1]]

/** "3 minutes ago" / "hace 3 minutos", from an ISO time and now. */
export function formatRelative(iso: string, now = Date.now()) {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000)
  const rtf = new Intl.RelativeTimeFormat(language.value, { numeric: 'auto' })
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return rtf.format(Math.trunc(seconds / size), unit)
  }
  return ''
}

/** A duration in seconds as "2 h 5 min" in the chosen language's units. */
export function formatDuration(totalSeconds: number) {
  const parts: string[] = []
  let rest = Math.max(0, Math.floor(totalSeconds))
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size)
    rest -= n * size
    if (n || (unit === 'second' && !parts.length)) {
      parts.push(new Intl.NumberFormat(language.value, { style: 'unit', unit, unitDisplay: 'short' }).format(n))
    }
    if (parts.length === 2) break
  }
  return parts.join(' ')
}
