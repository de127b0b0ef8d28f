import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parsePo } from '../../server/i18n/po'
import { negotiateLanguage, setCatalogs, translate, type Language } from '../../server/i18n'
import type { Params } from '../../server/errors'

// The catalogs ship beside the CLI in locales/ (two levels up from .output/cli/).
function load() {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '../../locales')
  const catalogs: Record<string, Record<string, string>> = {}
  try {
    for (const f of readdirSync(dir)) {
      const m = /^([a-z]{2})\.po$/.exec(f)
      if (m) catalogs[m[1]!] = parsePo(readFileSync(join(dir, f), 'utf8'))
    }
  } catch {
    // no catalogs: English
  }
  setCatalogs(catalogs)
}
load()

const lang: Language = negotiateLanguage((process.env.LC_ALL || process.env.LC_MESSAGES || process.env.LANG || '').split('.')[0]!.replace('_', '-'))

export const t = (msgid: string, params?: Params) => translate(lang, msgid, params)
