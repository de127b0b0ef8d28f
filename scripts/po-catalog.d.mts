/** A gettext catalog: msgid (with `msgctxt\u0004` prefix when present) -> msgstr. */
export type Catalog = Record<string, string>
export function parsePo(text: string | Buffer): Catalog
