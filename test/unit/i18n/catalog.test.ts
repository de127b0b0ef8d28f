import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { po } from 'gettext-parser'
import { beforeAll, describe, expect, it } from 'vitest'
import { parsePo } from '../../../scripts/po-catalog.mjs'
import { negotiateLanguage, setCatalogs, translate } from '#server/i18n/index'
import { gib } from '#server/images/place'

const ROOT = resolve(__dirname, '../../..')
const SCRIPT = join(ROOT, 'scripts/extract-messages.mjs')
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8')

interface Extractor {
  extract(root?: string, dirs?: string[]): { messages: Map<string, string[]>; problems: { ref: string; text: string }[] }
  mergePo(existing: string, messages: Map<string, string[]>, lang: string, opts?: { date?: string }): { text: string; added: string[]; obsoleted: string[]; dropped: string[]; revived: string[] }
  renderPot(messages: Map<string, string[]>, opts?: { date?: string }): string
  plan(root?: string): { files: { path: string; changed: boolean; added: string[]; dropped: string[] }[] }
}

interface PoEntry { msgid: string; msgstr: string; refs: string[]; translator: string; flags: string[] }
/** A .po text as gettext-parser reads it: its header, its live entries and its obsolete ones. */
function readPo(text: string) {
  const table = po.parse(text)
  const entries = (section?: Record<string, Record<string, any>>): PoEntry[] =>
    Object.values(section?.[''] ?? {})
      .filter((e) => e.msgid !== '')
      .map((e) => ({
        msgid: e.msgid,
        msgstr: e.msgstr[0] ?? '',
        refs: (e.comments?.reference ?? '').split(/\s+/).filter(Boolean),
        translator: e.comments?.translator ?? '',
        flags: (e.comments?.flag ?? '').split(',').map((f: string) => f.trim()).filter(Boolean),
      }))
  return { header: table.translations['']?.['']?.msgstr[0] ?? '', entries: entries(table.translations), obsolete: entries(table.obsolete) }
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
    const pot = new Set(readPo(read('locales/labvirt.pot')).entries.map((e) => e.msgid))
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
    const pot = readPo(read('locales/labvirt.pot')).entries
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
    const pot = readPo(read('locales/labvirt.pot')).entries.map((e) => e.msgid).sort()
    for (const lang of ['en', 'es']) {
      const file = readPo(read(`locales/${lang}.po`))
      expect(file.entries.map((e) => e.msgid).sort(), lang).toEqual(pot)
      expect(file.header, lang).toContain(`Language: ${lang}\n`)
      expect(file.header, lang).toMatch(/charset=utf-8/i)
      expect(file.entries.filter((e) => e.flags.includes('fuzzy')), `${lang}: fuzzy entries`).toEqual([])
    }
  })

  it('the pot file has a gettext header and references', () => {
    const text = read('locales/labvirt.pot')
    const pot = readPo(text)
    expect(pot.header).toMatch(/Project-Id-Version: labvirt /)
    expect(pot.header).toMatch(/Content-Type: text\/plain; charset=utf-8\n/i)
    expect(pot.header).toMatch(/POT-Creation-Date: \d{4}-\d\d-\d\d \d\d:\d\d\+0000\n/)
    for (const e of pot.entries) {
      expect(e.refs.length, e.msgid).toBeGreaterThan(0)
      for (const ref of e.refs) expect(ref).toMatch(/^(schemas|server|routes|middleware|plugins|tasks|bin|ui)\/[\w./[\]-]+:\d+$/)
      expect(e.msgstr).toBe('')
    }
    // Written in msgid order, as gettext-parser reads them back.
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

  it("a Quantity is written in the reader's language, a plain number as it is", () => {
    const msgid = '{left} GiB free above the reserve'
    expect(translate('es', msgid, { left: gib(1.5 * 2 ** 30) })).toBe('1,5 GiB free above the reserve')
    expect(translate('en', msgid, { left: gib(1234.56 * 2 ** 30) })).toBe('1,234.6 GiB free above the reserve')
    expect(translate('es', msgid, { left: { number: 0.25 } })).toBe('0,25 GiB free above the reserve')
    expect(translate('es', 'port {p}', { p: 20000 })).toBe('port 20000')
  })
})

describe('parsePo', () => {
  // A translation written by a translator's tool, then merged (written again) by the extractor.
  function roundTrip(value: string) {
    const translated = po.compile({ charset: 'utf-8', headers: { Language: 'es' }, translations: { '': { 'the msgid': { msgid: 'the msgid', msgstr: [value] } } } })
    const text = ex.mergePo(translated.toString('utf8'), new Map([['the msgid', ['x.ts:1']]]), 'es').text
    return { ours: parsePo(text)['the msgid'], theirs: readPo(text).entries[0]?.msgstr }
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
  /** Runs `fn` on a throw-away source tree of `{path: text}`. */
  function inTree<T>(files: Record<string, string>, fn: (root: string) => T): T {
    const root = mkdtempSync(join(tmpdir(), 'labvirt-extract-'))
    try {
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(root, path)), { recursive: true })
        writeFileSync(join(root, path), text)
      }
      return fn(root)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }
  function extractFrom(files: Record<string, string>) {
    const { messages, problems } = inTree(files, (root) => ex.extract(root))
    return { messages: Object.fromEntries(messages), problems }
  }

  it('finds quoted and back-quoted literals with escapes, skips comments and strings, and reports what it cannot read', () => {
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
      "const j = `${t(N_('inside a substitution'))} and ${N_(`${x} substituted`)}`",
      "const k = N_('')",
      "const l = t('t is not ours outside the console')",
    ].join('\n')
    const { messages, problems } = extractFrom({ 'server/a.ts': src })
    expect(messages).toEqual({
      "it's here": ['server/a.ts:2'],
      'say "hi"': ['server/a.ts:3'],
      back: ['server/a.ts:4'],
      'after a regex': ['server/a.ts:7'],
      'on the next line': ['server/a.ts:8'],
      'tab\tand\nnewline é': ['server/a.ts:12'],
      'inside a substitution': ['server/a.ts:15'],
    })
    expect(problems).toEqual([
      { ref: 'server/a.ts:14', text: 'N_(variable)' },
      { ref: 'server/a.ts:15', text: 'N_(`${x} substituted`)' },
      { ref: 'server/a.ts:16', text: 'empty msgid' },
    ])
  })

  it("finds the console's t() and N_ in .vue templates and scripts and in its .ts files, with their lines", () => {
    const vue = [
      '<script setup lang="ts">',
      "import { N_, t } from '../lib/i18n'",
      "const label = N_('From the script')",
      'const typed: string = t(label)',
      '</script>',
      '',
      '<template>',
      '  <!-- {{ t(\'In an HTML comment\') }} -->',
      "  <h1>{{ t('A heading') }}</h1>",
      '  <p>t(\'plain text, not code\')</p>',
      "  <button :aria-label=\"t('Close {name}', { name })\">x</button>",
      '</template>',
    ].join('\n')
    const { messages, problems } = extractFrom({ 'ui/pages/Page.vue': vue, 'ui/lib/seats.ts': "export const s = t(`From a module`)\n", 'server/b.ts': "N_('A heading')\n" })
    expect(messages).toEqual({
      'A heading': ['server/b.ts:1', 'ui/pages/Page.vue:9'],
      'Close {name}': ['ui/pages/Page.vue:11'],
      'From a module': ['ui/lib/seats.ts:1'],
      'From the script': ['ui/pages/Page.vue:3'],
    })
    expect(problems).toEqual([])
  })

  it('sees a msgid missing from labvirt.pot and one no source uses any more', () => {
    const pot = ex.renderPot(new Map([['kept', ['server/a.ts:1']], ['unused', ['server/a.ts:2']]]))
    const files = inTree({ 'server/a.ts': "N_('kept')\nN_('new')\n", 'locales/labvirt.pot': pot }, (root) => ex.plan(root).files)
    const potFile = files.find((f) => f.path.endsWith('labvirt.pot'))!
    expect([potFile.changed, potFile.added, potFile.dropped]).toEqual([true, ['new'], ['unused']])
  })

  it('merges: keeps translations, translator comments and flags, adds new msgids, keeps translated old ones as obsolete, drops the rest', () => {
    const date = '2026-01-01 00:00+0000'
    const first = ex.mergePo('', new Map([['kept', ['a.ts:1']], ['gone', ['a.ts:2']], ['gone untranslated', ['a.ts:3']]]), 'es', { date })
    expect(first.added).toEqual(['gone', 'gone untranslated', 'kept'])
    const translated = first.text
      .replace('msgid "kept"\nmsgstr ""', '# a translator note\n#, c-format\nmsgid "kept"\nmsgstr "conservado"')
      .replace('msgid "gone"\nmsgstr ""', 'msgid "gone"\nmsgstr "ido"')
    const second = ex.mergePo(translated, new Map([['kept', ['b.ts:9', 'c.ts:2']], ['new "one"', ['b.ts:10']]]), 'es', { date })
    expect(second.added).toEqual(['new "one"'])
    expect(second.obsoleted).toEqual(['gone'])
    expect(second.dropped).toEqual(['gone untranslated'])
    const file = readPo(second.text)
    expect(file.header).toContain('Language: es\n')
    expect(file.entries).toEqual([
      { msgid: 'kept', msgstr: 'conservado', refs: ['b.ts:9', 'c.ts:2'], translator: 'a translator note', flags: ['c-format'] },
      { msgid: 'new "one"', msgstr: '', refs: ['b.ts:10'], translator: '', flags: [] },
    ])
    expect(file.obsolete.map((e) => [e.msgid, e.msgstr])).toEqual([['gone', 'ido']])
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
    expect(readPo(pot).entries[0]!.msgid).toBe('one\ntwo')
  })
})
