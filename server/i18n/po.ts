/** A gettext catalog: msgid (with `msgctxt\u0004` prefix when present) -> msgstr. */
export type Catalog = Record<string, string>

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' }

/** A PO string is a C string literal: one left-to-right pass over its escapes. */
function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c)
}

/** Parses the subset of the PO format we write: msgctxt, msgid, msgstr, continuation lines. */
export function parsePo(text: string): Catalog {
  const catalog: Catalog = {}
  let ctx: string | undefined
  let id: string | undefined
  let str: string | undefined
  let field: 'ctx' | 'id' | 'str' | undefined
  const flush = () => {
    if (id !== undefined && id !== '' && str) catalog[ctx !== undefined ? `${ctx}\u0004${id}` : id] = str
    ctx = id = str = field = undefined
  }
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^(msgctxt|msgid|msgstr)\s+(".*")$/.exec(line)
    if (m) {
      if (m[1] === 'msgctxt' || (m[1] === 'msgid' && field === 'str')) flush()
      field = m[1] === 'msgctxt' ? 'ctx' : m[1] === 'msgid' ? 'id' : 'str'
      const value = unquote(m[2]!)
      if (field === 'ctx') ctx = value
      else if (field === 'id') id = value
      else str = value
    } else if (line.startsWith('"') && field) {
      const value = unquote(line)
      if (field === 'ctx') ctx += value
      else if (field === 'id') id += value
      else str += value
    }
  }
  flush()
  return catalog
}
