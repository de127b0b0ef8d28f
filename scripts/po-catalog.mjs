// Reads a gettext .po file into a catalog (msgid -> msgstr, `msgctxt\u0004msgid` with a context)
// with gettext-parser. The server (nitro.config.ts) and the CLI (scripts/build-cli.mjs) compile
// their catalogs with it at build time. Untranslated entries and the header are left out, so a
// lookup falls back to the English msgid.
import { po } from 'gettext-parser'

/** @param {string | Buffer} text */
export function parsePo(text) {
  const catalog = {}
  for (const [ctx, entries] of Object.entries(po.parse(text).translations)) {
    for (const entry of Object.values(entries)) {
      if (entry.msgid && entry.msgstr[0]) catalog[ctx ? `${ctx}\u0004${entry.msgid}` : entry.msgid] = entry.msgstr[0]
    }
  }
  return catalog
}
