// Compiles locales/*.po into the console's vue-i18n messages (ui/generated/messages/<lang>.json),
// keyed by the English msgid. Only msgids the console uses (a `#: ui/...` reference) go in, so
// the bundle carries none of the server's. Run by ui/vite.config.ts before every build.
import gettextParser from 'gettext-parser'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const LOCALES = join(ROOT, 'locales')
export const OUT = join(ROOT, 'ui/generated/messages')

/**
 * vue-i18n gives `{ } @ $ |` meaning: literal ones become `{'x'}`; `{name}` placeholders stay.
 */
export function escapeMessage(text) {
  return text.replace(/\{\w+\}|[{}@$|]/g, (m) => (m.length > 1 ? m : `{'${m}'}`))
}

function isUi(entry) {
  return (entry.comments?.reference ?? '').split(/\s+/).some((ref) => ref.startsWith('ui/'))
}

/** `{lang: {msgid: message}}` for every .po file; English falls back to the msgid itself. */
export function uiMessages() {
  const out = {}
  for (const file of readdirSync(LOCALES)) {
    const lang = /^([a-z]{2})\.po$/.exec(file)?.[1]
    if (!lang) continue
    const po = gettextParser.po.parse(readFileSync(join(LOCALES, file)))
    const messages = {}
    for (const [ctx, entries] of Object.entries(po.translations)) {
      for (const entry of Object.values(entries)) {
        if (!entry.msgid || !isUi(entry)) continue
        const strs = entry.msgstr.filter(Boolean)
        const text = strs.length ? strs.map(escapeMessage).join(' | ') : lang === 'en' ? escapeMessage(entry.msgid) : undefined
        if (text !== undefined) messages[ctx ? `${ctx}\u0004${entry.msgid}` : entry.msgid] = text
      }
    }
    out[lang] = messages
  }
  return out
}

export function writeUiMessages() {
  mkdirSync(OUT, { recursive: true })
  for (const [lang, messages] of Object.entries(uiMessages())) {
    writeFileSync(join(OUT, `${lang}.json`), `${JSON.stringify(messages, null, 1)}\n`)
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeUiMessages()
