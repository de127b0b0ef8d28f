import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { parsePo } from '../../../scripts/po-catalog.mjs'
import { negotiateLanguage, setCatalogs, translate } from '../../../server/i18n'

const ROOT = resolve(__dirname, '../../..')
const SCRIPT = join(ROOT, 'scripts/extract-messages.mjs')
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8')

interface PoEntry { msgid: string; msgstr: string; obsolete: boolean; refs: string[]; comments: string[]; flags: string[] }
interface Extractor {
  extract(root?: string): { messages: Map<string, string[]>; problems: { ref: string; text: string }[] }
  extractFromSource(src: string): { messages: { msgid: string; line: number }[]; problems: { line: number; text: string }[] }
  parsePoFile(text: string): { header?: { msgstr: string }; entries: PoEntry[] }
  mergePo(existing: string, messages: Map<string, string[]>, lang: string, opts?: { date?: string }): { text: string; added: string[]; obsoleted: string[]; dropped: string[]; revived: string[] }
  renderPot(messages: Map<string, string[]>, opts?: { date?: string }): string
  poQuote(s: string): string
}

// The extractor is a plain .mjs script (no build step); a computed specifier keeps tsc from
// looking for its declarations.
let ex: Extractor
beforeAll(async () => {
  ex = (await import(pathToFileURL(SCRIPT).href)) as Extractor
})

const placeholders = (s: string) => [...new Set([...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort()

describe('the catalog', () => {
  it('labvirt.pot holds every msgid the sources mark with N_, and no other', () => {
    const { messages, problems } = ex.extract(ROOT)
    expect(problems, 'N_() calls whose argument is not one string literal').toEqual([])
    expect(messages.size).toBeGreaterThan(20)
    const pot = new Set(ex.parsePoFile(read('locales/labvirt.pot')).entries.filter((e) => !e.obsolete).map((e) => e.msgid))
    const missing = [...messages.keys()].filter((m) => !pot.has(m))
    const unused = [...pot].filter((m) => !messages.has(m))
    expect(missing, 'msgids missing from locales/labvirt.pot: run `node scripts/extract-messages.mjs`').toEqual([])
    expect(unused, 'msgids in labvirt.pot no source uses: run `node scripts/extract-messages.mjs`').toEqual([])
  })

  it('the extractor in check mode finds nothing to do', () => {
    let out = ''
    let status = 0
    try {
      out = execFileSync(process.execPath, [SCRIPT, '--check'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' })
    } catch (err: any) {
      status = err.status
      out = `${err.stdout}${err.stderr}`
    }
    expect(status, out).toBe(0)
  })

  it('every msgid has a Spanish translation with exactly the same {placeholders}', () => {
    const pot = ex.parsePoFile(read('locales/labvirt.pot')).entries.filter((e) => !e.obsolete)
    // Parsed the way the server parses it when it compiles the catalogs into its bundle.
    const es = parsePo(read('locales/es.po'))
    const problems: string[] = []
    for (const { msgid } of pot) {
      const str = es[msgid]
      if (!str) problems.push(`untranslated: ${JSON.stringify(msgid)}`)
      else if (JSON.stringify(placeholders(str)) !== JSON.stringify(placeholders(msgid))) {
        problems.push(`placeholders differ: ${JSON.stringify(msgid)} -> ${JSON.stringify(str)}`)
      }
    }
    expect(problems).toEqual([])
  })

  it('es.po and en.po list exactly the msgids of labvirt.pot', () => {
    const pot = ex.parsePoFile(read('locales/labvirt.pot')).entries.filter((e) => !e.obsolete).map((e) => e.msgid).sort()
    for (const lang of ['en', 'es']) {
      const po = ex.parsePoFile(read(`locales/${lang}.po`))
      expect(po.entries.filter((e) => !e.obsolete).map((e) => e.msgid).sort(), lang).toEqual(pot)
      expect(po.header?.msgstr, lang).toContain(`Language: ${lang}\n`)
      expect(po.header?.msgstr, lang).toContain('charset=UTF-8')
      expect(po.entries.filter((e) => e.flags.includes('fuzzy')), `${lang}: fuzzy entries`).toEqual([])
    }
  })

  it('the pot file has a gettext header and references', () => {
    const text = read('locales/labvirt.pot')
    const pot = ex.parsePoFile(text)
    expect(pot.header?.msgstr).toMatch(/Project-Id-Version: labvirt /)
    expect(pot.header?.msgstr).toContain('Content-Type: text/plain; charset=UTF-8\n')
    expect(pot.header?.msgstr).toMatch(/POT-Creation-Date: \d{4}-\d\d-\d\d \d\d:\d\d\+0000\n/)
    for (const e of pot.entries) {
      expect(e.refs.length, e.msgid).toBeGreaterThan(0)
      for (const ref of e.refs) expect(ref).toMatch(/^(schemas|server|routes|middleware|plugins|tasks|bin|ui)\/[\w./[\]-]+:\d+$/)
      expect(e.msgstr).toBe('')
    }
    const ids = pot.entries.map((e) => e.msgid)
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
  })

  it('a Spanish caller gets the Spanish text, with placeholders and nested messages translated', () => {
    setCatalogs({ es: parsePo(read('locales/es.po')), en: parsePo(read('locales/en.po')) })
    try {
      const es = translate('es', 'No {kind} named "{id}"', { kind: { msgid: 'lab' }, id: 'x1' })
      expect(es).toContain('x1')
      expect(es).toContain(translate('es', 'lab'))
      expect(es).not.toContain('named')
      expect(translate('en', 'No {kind} named "{id}"', { kind: { msgid: 'lab' }, id: 'x1' })).toBe('No lab named "x1"')
      // An unknown msgid falls back to itself; a missing parameter stays visible.
      expect(translate('es', 'Not a msgid {x}')).toBe('Not a msgid {x}')
    } finally {
      setCatalogs({})
    }
  })
})

describe('parsePo', () => {
  function roundTrip(value: string) {
    const text = ex.mergePo('', new Map([['the msgid', ['x.ts:1']]]), 'es').text.replace('msgid "the msgid"\nmsgstr ""\n', `msgid "the msgid"\nmsgstr ${ex.poQuote(value)}\n`)
    return { ours: parsePo(text)['the msgid'], theirs: ex.parsePoFile(text).entries[0]?.msgstr }
  }

  it.each([
    ['quotes', 'say "hi"'],
    ['backslash before a quote', 'a \\"b'],
    ['a tab', 'a\tb'],
    ['a newline', 'one\ntwo'],
    ['non-ASCII', 'año «ñandú» ☃ 😀'],
    ['placeholders', '{kind} «{id}»: {n} %HOST%'],
    ['a backslash before n and t', 'C:\\new\\tmp'],
  ])('round-trips %s', (_name, value) => {
    const { ours, theirs } = roundTrip(value)
    expect(ours).toBe(value)
    expect(theirs).toBe(value)
  })

  it('keeps a backslash before any other character (\\d, \\x)', () => {
    const { ours, theirs } = roundTrip('match \\d+ in C:\\dir')
    expect(theirs).toBe('match \\d+ in C:\\dir')
    expect(ours).toBe('match \\d+ in C:\\dir')
  })

  it('joins multi-line strings, with msgctxt, comments and obsolete entries', () => {
    const text = [
      '# translator comment',
      'msgid ""',
      'msgstr ""',
      '"Language: es\\n"',
      '',
      '#: a.ts:1',
      '#, c-format',
      'msgid ""',
      '"first line\\n"',
      '"second line"',
      'msgstr ""',
      '"primera línea\\n"',
      '"segunda línea"',
      '',
      'msgctxt "menu"',
      'msgid "Open"',
      'msgstr "Abrir"',
      '',
      'msgid "untranslated"',
      'msgstr ""',
      '',
      '#~ msgid "old"',
      '#~ msgstr "viejo"',
      '',
    ].join('\n')
    const cat = parsePo(text)
    expect(cat['first line\nsecond line']).toBe('primera línea\nsegunda línea')
    expect(cat['menu\u0004Open']).toBe('Abrir')
    expect(Object.keys(cat).sort()).toEqual(['first line\nsecond line', 'menu\u0004Open'])
    const mine = ex.parsePoFile(text)
    expect(mine.header?.msgstr).toBe('Language: es\n')
    expect(mine.entries.map((e) => [e.msgid, e.msgstr, e.obsolete])).toEqual([
      ['first line\nsecond line', 'primera línea\nsegunda línea', false],
      ['Open', 'Abrir', false],
      ['untranslated', '', false],
      ['old', 'viejo', true],
    ])
  })

  it('accepts CRLF line ends', () => {
    expect(parsePo('msgid "a"\r\nmsgstr "b"\r\n')).toEqual({ a: 'b' })
  })
})

describe('negotiateLanguage', () => {
  const cases: [string | undefined | null, string][] = [
    ['es-ES,es;q=0.9,en;q=0.8', 'es'],
    ['fr, en;q=0.5', 'en'],
    ['fr-CH, fr;q=0.9, es;q=0.7, en;q=0.8', 'en'],
    ['en;q=0.2, es;q=0.9', 'es'],
    ['es-MX', 'es'],
    ['ES', 'es'],
    ['es;q=0, en', 'en'],
    ['es;q=0', 'en'],
    ['*', 'en'],
    ['', 'en'],
    [undefined, 'en'],
    [null, 'en'],
    ['garbage', 'en'],
    [';;;,,,q=', 'en'],
    ['\u0000\u00ff', 'en'],
    ['x'.repeat(10_000), 'en'],
    [`${'fr;q=0.1,'.repeat(2000)}es;q=0.2`, 'es'],
  ]
  it.each(cases.map(([header, lang]) => ({ header, lang, label: JSON.stringify(header)?.slice(0, 40) ?? 'undefined' })))(
    '$label -> $lang',
    ({ header, lang }) => {
      expect(negotiateLanguage(header)).toBe(lang)
    },
  )
})

describe('the extractor', () => {
  it('finds single-, double- and back-quoted literals with escapes, and skips comments', () => {
    const src = [
      "import { N_ } from './msgid'",
      "const a = N_('it\\'s here')",
      'const b = N_("say \\"hi\\"")',
      'const c = N_(`back`)',
      "// N_('in a line comment')",
      "/* N_('in a block comment') */",
      "const re = /['\"]/; const d = N_('after a regex')",
      "const e = N_(\n  'on the next line',\n)",
      "const f = x.N_('a method, not ours')",
      "const g = N_('tab\\tand\\nnewline \\u00e9')",
      "const h = 'N_(\"inside a string\")'",
      'const i = N_(variable)',
      "const j = 4 / 2; const k = N_('after a division')",
    ].join('\n')
    const { messages, problems } = ex.extractFromSource(src)
    expect(messages).toEqual([
      { msgid: "it's here", line: 2 },
      { msgid: 'say "hi"', line: 3 },
      { msgid: 'back', line: 4 },
      { msgid: 'after a regex', line: 7 },
      { msgid: 'on the next line', line: 8 },
      { msgid: 'tab\tand\nnewline é', line: 12 },
      { msgid: 'after a division', line: 15 },
    ])
    expect(problems).toEqual([{ line: 14, text: 'N_(variable)' }])
  })

  it('merges: keeps translations, adds new msgids, keeps translated old ones as obsolete, drops the rest', () => {
    const date = '2026-01-01 00:00+0000'
    const first = ex.mergePo('', new Map([['kept', ['a.ts:1']], ['gone', ['a.ts:2']], ['gone untranslated', ['a.ts:3']]]), 'es', { date })
    expect(first.added).toEqual(['gone', 'gone untranslated', 'kept'])
    const translated = first.text
      .replace('msgid "kept"\nmsgstr ""', '# a translator note\nmsgid "kept"\nmsgstr "conservado"')
      .replace('msgid "gone"\nmsgstr ""', 'msgid "gone"\nmsgstr "ido"')
    const second = ex.mergePo(translated, new Map([['kept', ['b.ts:9']], ['new "one"', ['b.ts:10']]]), 'es', { date })
    expect(second.added).toEqual(['new "one"'])
    expect(second.obsoleted).toEqual(['gone'])
    expect(second.dropped).toEqual(['gone untranslated'])
    const po = ex.parsePoFile(second.text)
    expect(po.entries.map((e) => [e.msgid, e.msgstr, e.obsolete, e.refs])).toEqual([
      ['kept', 'conservado', false, ['b.ts:9']],
      ['new "one"', '', false, ['b.ts:10']],
      ['gone', 'ido', true, []],
    ])
    expect(po.entries[0]!.comments).toEqual(['a translator note'])
    expect(second.text).toContain('#~ msgid "gone"\n#~ msgstr "ido"\n')
    // A msgid that comes back gets its old translation again.
    const third = ex.mergePo(second.text, new Map([['kept', ['b.ts:9']], ['gone', ['c.ts:1']]]), 'es', { date })
    expect(third.revived).toEqual(['gone'])
    expect(parsePo(third.text)).toEqual({ kept: 'conservado', gone: 'ido' })
    // Merging again changes nothing.
    expect(ex.mergePo(third.text, new Map([['kept', ['b.ts:9']], ['gone', ['c.ts:1']]]), 'es', { date }).text).toBe(third.text)
  })

  it('writes multi-line msgids the gettext way', () => {
    const pot = ex.renderPot(new Map([['one\ntwo', ['a.ts:1']]]), { date: '2026-01-01 00:00+0000' })
    expect(pot).toContain('#: a.ts:1\nmsgid ""\n"one\\n"\n"two"\nmsgstr ""\n')
    expect(ex.parsePoFile(pot).entries[0]!.msgid).toBe('one\ntwo')
  })
})
