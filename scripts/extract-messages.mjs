#!/usr/bin/env node
/**
 * Extracts the server's gettext msgids into locales/labvirt.pot and merges them into every
 * locales/<lang>.po. Plain Node, no dependencies.
 *
 *   node scripts/extract-messages.mjs           rewrite labvirt.pot and the .po files
 *   node scripts/extract-messages.mjs --check   write nothing; exit 1 when a msgid is missing from
 *                                               a file or no longer used (moved references are fine)
 *   node scripts/extract-messages.mjs --json    print the msgids found in the sources, as JSON
 *
 * A msgid is the string literal passed to `N_(...)` (schemas/msgid.ts): single, double or
 * back-quoted without `${}`, with JavaScript escapes. Comments are skipped. A `N_(` whose argument
 * is not one literal is reported, since it cannot be extracted.
 *
 * Merging keeps every existing translation (and its translator comments and flags), adds new
 * msgids with an empty msgstr, keeps msgids no longer used as obsolete `#~` entries when they
 * carry a translation (so it comes back if the msgid does) and drops them otherwise.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileTemplate, parse as parseSfc } from '@vue/compiler-sfc'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const SOURCE_DIRS = ['schemas', 'server', 'routes', 'middleware', 'plugins', 'tasks', 'bin', 'ui']
const SOURCE_EXT = /\.(?:[cm]?[jt]s|tsx|jsx|vue)$/
// Build output of the console, not sources.
const SKIP_DIRS = new Set(['node_modules', 'dist', 'generated'])
const LOCALES = 'locales'
const POT = 'labvirt.pot'

/** Per-language header fields for a .po file created from scratch. */
const LANGUAGE_HEADERS = {
  en: { team: 'English', plural: 'nplurals=2; plural=(n != 1);' },
  es: { team: 'Spanish', plural: 'nplurals=2; plural=(n != 1);' },
}

// ---------------------------------------------------------------------------------------------
// Scanning sources

function listFiles(dir, out = []) {
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir).sort()) {
    if (SKIP_DIRS.has(name) || name.startsWith('.')) continue
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) listFiles(p, out)
    else if (SOURCE_EXT.test(name) && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

// After these characters a `/` starts a regular expression; after a value (a name, a number, `)`
// or `]`, a string) it is a division.
const VALUE_END = /[\w$)\]'"`]$/
const KEYWORD_END = /(?:^|[^\w$])(?:return|typeof|case|do|else|in|of|void|yield|await|throw|delete|new|instanceof)$/

/**
 * Blanks out comments (keeping newlines, so line numbers hold) while stepping over string,
 * template and regular-expression literals, whose contents may look like comment starts. With
 * `blankLiterals`, the contents of those literals are blanked too (same length).
 */
export function stripComments(src, { blankLiterals = false } = {}) {
  let out = ''
  let i = 0
  const n = src.length
  const blank = (s) => s.replace(/[^\n]/g, ' ')
  while (i < n) {
    const c = src[i]
    const d = src[i + 1]
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i)
      const stop = end === -1 ? n : end
      out += blank(src.slice(i, stop))
      i = stop
      continue
    }
    if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2)
      const stop = end === -1 ? n : end + 2
      out += blank(src.slice(i, stop))
      i = stop
      continue
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < n && src[j] !== c) {
        if (src[j] === '\\') j++
        else if (c !== '`' && src[j] === '\n') break
        j++
      }
      out += blankLiterals ? c + blank(src.slice(i + 1, j)) + src.slice(j, j + 1) : src.slice(i, j + 1)
      i = j + 1
      continue
    }
    if (c === '/') {
      const before = out.slice(-40).trimEnd()
      const isRegex = !VALUE_END.test(before) || KEYWORD_END.test(before)
      if (isRegex) {
        let j = i + 1
        let inClass = false
        while (j < n && src[j] !== '\n') {
          if (src[j] === '\\') j++
          else if (src[j] === '[') inClass = true
          else if (src[j] === ']') inClass = false
          else if (src[j] === '/' && !inClass) break
          j++
        }
        out += blankLiterals ? c + blank(src.slice(i + 1, j)) + src.slice(j, j + 1) : src.slice(i, j + 1)
        i = j + 1
        continue
      }
    }
    out += c
    i++
  }
  return out
}

/** The value of a JavaScript string literal body (without its quotes). */
export function unescapeJs(body) {
  return body.replace(/\\(u\{([0-9a-fA-F]+)\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|\r\n|[\s\S])/g, (all, esc, cp, u4, x2) => {
    if (cp) return String.fromCodePoint(parseInt(cp, 16))
    if (u4) return String.fromCharCode(parseInt(u4, 16))
    if (x2) return String.fromCharCode(parseInt(x2, 16))
    switch (esc) {
      case 'n': return '\n'
      case 't': return '\t'
      case 'r': return '\r'
      case 'b': return '\b'
      case 'f': return '\f'
      case 'v': return '\v'
      case '0': return '\0'
      case '\n': case '\r\n': case '\u2028': case '\u2029': return '' // line continuation
      default: return esc
    }
  })
}

const CALL = /(?<![\w$.])N_\s*\(/g
// The console also translates with vue-i18n's `t('msgid')` (`_ctx.t(...)` in a compiled template);
// a `t(variable)` there translates a msgid marked with N_ elsewhere, so it is no problem.
const UI_CALL = /(?<![\w$])(N_|t)\s*\(/g
const STRING_LITERAL = /'((?:[^'\\\n]|\\[\s\S])*)'|"((?:[^"\\\n]|\\[\s\S])*)"|`((?:[^`\\$]|\\[\s\S]|\$(?!\{))*)`/.source
const LITERAL = new RegExp(`^\\s*(?:${STRING_LITERAL})\\s*(?:,\\s*)?\\)`)
// `t('msgid', {params})`: the literal may be followed by more arguments.
const UI_LITERAL = new RegExp(`^\\s*(?:${STRING_LITERAL})\\s*[,)]`)

/**
 * Finds the msgids of one source text. Returns `{messages: [{msgid, line}], problems: [{line, text}]}`.
 */
export function extractFromSource(src, { ui = false } = {}) {
  const code = stripComments(src)
  // Calls are looked for where literals are blanked, so `'N_("x")'` inside a string is no call.
  const calls = stripComments(src, { blankLiterals: true })
  const messages = []
  const problems = []
  const lineAt = (index) => code.slice(0, index).split('\n').length
  for (const m of calls.matchAll(ui ? UI_CALL : CALL)) {
    // The definition `export const N_ = ...` is not a call.
    const start = m.index + m[0].length
    const lit = (ui ? UI_LITERAL : LITERAL).exec(code.slice(start))
    if (!lit) {
      if (m[1] === 't') continue
      const text = code.slice(m.index, code.indexOf('\n', start) === -1 ? undefined : code.indexOf('\n', start)).trim()
      if (/^N_\s*\(\s*msgid\s*:/.test(text)) continue // the declaration in schemas/msgid.ts
      problems.push({ line: lineAt(m.index), text })
      continue
    }
    const body = lit[1] ?? lit[2] ?? lit[3] ?? ''
    const msgid = unescapeJs(body)
    if (msgid === '') {
      problems.push({ line: lineAt(m.index), text: 'empty msgid' })
      continue
    }
    messages.push({ msgid, line: lineAt(m.index) })
  }
  return { messages, problems }
}

/**
 * A Vue single-file component: its template compiled to JavaScript (so template text and
 * attributes never pass for code) plus its script. A msgid's line is where its text first appears.
 */
function extractFromVue(src, filename) {
  const { descriptor } = parseSfc(src, { filename })
  const parts = [descriptor.script?.content ?? '', descriptor.scriptSetup?.content ?? '']
  if (descriptor.template) parts.push(compileTemplate({ source: descriptor.template.content, filename, id: filename }).code)
  const found = extractFromSource(parts.join('\n'), { ui: true })
  const lines = src.split('\n')
  const lineOf = (text) => lines.findIndex((l) => l.includes(`'${text}`) || l.includes(`"${text}`)) + 1 || lines.findIndex((l) => l.includes(text)) + 1 || 1
  for (const m of found.messages) m.line = lineOf(m.msgid.split('\n')[0])
  return found
}

/**
 * Scans the source folders under `root`. Returns `{messages: Map<msgid, string[] refs>, problems}`,
 * refs being `path:line` with forward slashes.
 */
export function extract(root = ROOT, dirs = SOURCE_DIRS) {
  const messages = new Map()
  const problems = []
  for (const dir of dirs) {
    for (const file of listFiles(join(root, dir))) {
      const rel = relative(root, file).split(sep).join('/')
      const text = readFileSync(file, 'utf8')
      const found = rel.endsWith('.vue') ? extractFromVue(text, rel) : extractFromSource(text, { ui: rel.startsWith('ui/') })
      for (const { msgid, line } of found.messages) {
        if (!messages.has(msgid)) messages.set(msgid, [])
        messages.get(msgid).push(`${rel}:${line}`)
      }
      for (const p of found.problems) problems.push({ ref: `${rel}:${p.line}`, text: p.text })
    }
  }
  return { messages, problems }
}

// ---------------------------------------------------------------------------------------------
// The PO format

/** A PO string literal for a value (escapes \ " and control characters). */
export function poQuote(s) {
  return `"${s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/\r/g, '\\r')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`
}

/** The value of a PO string literal. */
export function poUnquote(lit) {
  const body = lit.trim().replace(/^"/, '').replace(/"$/, '')
  return body.replace(/\\(x([0-9a-fA-F]{1,2})|[0-7]{1,3}|[\s\S])/g, (all, esc, hex) => {
    if (hex) return String.fromCharCode(parseInt(hex, 16))
    if (/^[0-7]+$/.test(esc)) return String.fromCharCode(parseInt(esc, 8))
    switch (esc) {
      case 'n': return '\n'
      case 't': return '\t'
      case 'r': return '\r'
      case 'a': return '\x07'
      case 'b': return '\b'
      case 'f': return '\f'
      case 'v': return '\v'
      default: return esc
    }
  })
}

/** `keyword "value"`, split after each newline (as gettext does) when the value has several lines. */
function poField(keyword, value, prefix = '') {
  const parts = value.split(/(?<=\n)/)
  if (parts.length <= 1) return `${prefix}${keyword} ${poQuote(value)}\n`
  return `${prefix}${keyword} ""\n${parts.map((p) => `${prefix}${poQuote(p)}\n`).join('')}`
}

/**
 * Parses a .po/.pot file into `{header: {comments, msgstr} | undefined, entries: [...]}`, each entry
 * `{msgid, msgstr, msgctxt?, comments: string[], flags: string[], refs: string[], obsolete}`.
 * Translator comments (`# `) are kept; extracted comments and references are regenerated.
 */
export function parsePoFile(text) {
  const entries = []
  let header
  let cur = newEntry()
  let field
  function newEntry() {
    return { msgid: undefined, msgstr: undefined, msgctxt: undefined, comments: [], flags: [], refs: [], obsolete: false }
  }
  function flush() {
    if (cur.msgid !== undefined) {
      if (cur.msgid === '' && cur.msgctxt === undefined && !cur.obsolete) header = { comments: cur.comments, msgstr: cur.msgstr ?? '' }
      else entries.push({ ...cur, msgstr: cur.msgstr ?? '' })
    }
    cur = newEntry()
    field = undefined
  }
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim()
    if (line === '') {
      flush()
      continue
    }
    let obsolete = false
    if (line.startsWith('#~')) {
      obsolete = true
      line = line.slice(2).trim()
      if (line.startsWith('|')) continue // previous msgid of an obsolete entry
    } else if (line.startsWith('#')) {
      if (cur.msgid !== undefined && field === 'str') flush()
      if (line.startsWith('#,')) cur.flags.push(...line.slice(2).split(',').map((f) => f.trim()).filter(Boolean))
      else if (line.startsWith('#:')) cur.refs.push(...line.slice(2).trim().split(/\s+/).filter(Boolean))
      else if (line.startsWith('#.') || line.startsWith('#|')) {
        // extracted comments and previous msgids are regenerated / dropped
      } else cur.comments.push(raw.replace(/^\s*#\s?/, ''))
      continue
    }
    const m = /^(msgctxt|msgid|msgstr)(?:\[\d+\])?\s+(".*")\s*$/.exec(line)
    if (m) {
      if ((m[1] === 'msgid' || m[1] === 'msgctxt') && (field === 'str' || (m[1] === 'msgctxt' && field))) flush()
      field = m[1] === 'msgctxt' ? 'ctx' : m[1] === 'msgid' ? 'id' : 'str'
      const value = poUnquote(m[2])
      if (field === 'ctx') cur.msgctxt = value
      else if (field === 'id') cur.msgid = value
      else cur.msgstr = (cur.msgstr ?? '') + value
      if (obsolete) cur.obsolete = true
    } else if (line.startsWith('"') && field) {
      const value = poUnquote(line)
      if (field === 'ctx') cur.msgctxt += value
      else if (field === 'id') cur.msgid += value
      else cur.msgstr += value
    }
  }
  flush()
  return { header, entries }
}

function renderEntry(e) {
  let s = ''
  for (const c of e.comments ?? []) s += c === '' ? '#\n' : `# ${c}\n`
  if (!e.obsolete) {
    // References wrapped as gettext does, about 79 columns.
    let line = '#:'
    for (const ref of e.refs ?? []) {
      if (line.length + 1 + ref.length > 79 && line !== '#:') {
        s += `${line}\n`
        line = '#:'
      }
      line += ` ${ref}`
    }
    if (line !== '#:') s += `${line}\n`
  }
  if (e.flags?.length) s += `#, ${e.flags.join(', ')}\n`
  const prefix = e.obsolete ? '#~ ' : ''
  if (e.msgctxt !== undefined) s += poField('msgctxt', e.msgctxt, prefix)
  s += poField('msgid', e.msgid, prefix)
  s += poField('msgstr', e.msgstr ?? '', prefix)
  return s
}

function renderFile(header, entries) {
  let s = ''
  for (const c of header.comments) s += c === '' ? '#\n' : c.startsWith(',') ? `#${c}\n` : `# ${c}\n`
  s += poField('msgid', '')
  s += poField('msgstr', header.msgstr)
  for (const e of entries) s += `\n${renderEntry(e)}`
  return s
}

function headerFields(msgstr) {
  const fields = []
  for (const line of msgstr.split('\n')) {
    const m = /^([^:]+):\s?(.*)$/.exec(line)
    if (m) fields.push([m[1], m[2]])
  }
  return fields
}

function headerText(fields) {
  return fields.map(([k, v]) => `${k}: ${v}\n`).join('')
}

function setHeaderField(fields, key, value) {
  const i = fields.findIndex(([k]) => k.toLowerCase() === key.toLowerCase())
  if (i === -1) fields.push([key, value])
  else fields[i] = [fields[i][0], value]
}

function projectVersion(root) {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    return `${pkg.name} ${pkg.version}`
  } catch {
    return 'labvirt'
  }
}

function nowStamp(date = new Date()) {
  const pad = (n) => String(n).padStart(2, '0')
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}+0000`
}

/** Compares two catalogs ignoring the creation/revision dates, which change on every write. */
function sameIgnoringDates(a, b) {
  const strip = (s) => s.replace(/^"(?:POT-Creation-Date|PO-Revision-Date): .*\\n"$/gm, '')
  return strip(a) === strip(b)
}

/** The text of labvirt.pot for the extracted messages. */
export function renderPot(messages, { project = 'labvirt', date = nowStamp() } = {}) {
  const header = {
    comments: [
      'Messages of the LabVirt server, for translation (gettext).',
      'Copyright (C) LabVirt contributors',
      'This file is distributed under the same license as the LabVirt package (MIT).',
      'Generated by scripts/extract-messages.mjs; do not edit by hand.',
      '',
      ', fuzzy',
    ],
    msgstr: headerText([
      ['Project-Id-Version', project],
      ['Report-Msgid-Bugs-To', ''],
      ['POT-Creation-Date', date],
      ['PO-Revision-Date', 'YEAR-MO-DA HO:MI+ZONE'],
      ['Last-Translator', 'FULL NAME <EMAIL@ADDRESS>'],
      ['Language-Team', 'LANGUAGE <LL@li.org>'],
      ['Language', ''],
      ['MIME-Version', '1.0'],
      ['Content-Type', 'text/plain; charset=UTF-8'],
      ['Content-Transfer-Encoding', '8bit'],
    ]),
  }
  const entries = [...messages.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((msgid) => ({ msgid, msgstr: '', refs: messages.get(msgid), comments: [], flags: [] }))
  return renderFile(header, entries)
}

/**
 * Merges the extracted messages into the text of one <lang>.po (empty or missing: a new file).
 * Returns `{text, added, obsoleted, dropped, revived}`.
 */
export function mergePo(existingText, messages, lang, { project = 'labvirt', date = nowStamp() } = {}) {
  const { header, entries } = parsePoFile(existingText ?? '')
  const old = new Map()
  for (const e of entries) {
    if (e.msgctxt !== undefined) continue // we do not write contexts; keep nothing we do not own
    const prev = old.get(e.msgid)
    // A live entry wins over an obsolete one with the same msgid.
    if (!prev || (prev.obsolete && !e.obsolete)) old.set(e.msgid, e)
  }
  const stats = { added: [], obsoleted: [], dropped: [], revived: [] }
  const merged = [...messages.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((msgid) => {
      const prev = old.get(msgid)
      if (!prev) stats.added.push(msgid)
      else if (prev.obsolete) stats.revived.push(msgid)
      return {
        msgid,
        msgstr: prev?.msgstr ?? '',
        refs: messages.get(msgid),
        comments: prev?.comments ?? [],
        flags: (prev?.flags ?? []).filter((f) => f !== 'fuzzy' || prev.msgstr !== ''),
        obsolete: false,
      }
    })
  const obsolete = []
  for (const [msgid, e] of old) {
    if (messages.has(msgid)) continue
    if (e.msgstr === '') {
      if (!e.obsolete) stats.dropped.push(msgid)
      continue
    }
    if (!e.obsolete) stats.obsoleted.push(msgid)
    obsolete.push({ ...e, refs: [], obsolete: true })
  }
  obsolete.sort((a, b) => (a.msgid < b.msgid ? -1 : a.msgid > b.msgid ? 1 : 0))

  const lh = LANGUAGE_HEADERS[lang] ?? { team: lang, plural: 'nplurals=2; plural=(n != 1);' }
  const fields = header
    ? headerFields(header.msgstr)
    : [
        ['Project-Id-Version', project],
        ['Report-Msgid-Bugs-To', ''],
        ['POT-Creation-Date', date],
        ['PO-Revision-Date', date],
        ['Last-Translator', 'LabVirt contributors'],
        ['Language-Team', lh.team],
        ['Language', lang],
        ['MIME-Version', '1.0'],
        ['Content-Type', 'text/plain; charset=UTF-8'],
        ['Content-Transfer-Encoding', '8bit'],
        ['Plural-Forms', lh.plural],
      ]
  setHeaderField(fields, 'Project-Id-Version', project)
  setHeaderField(fields, 'POT-Creation-Date', date)
  setHeaderField(fields, 'Language', lang)
  const comments = header?.comments.length
    ? header.comments
    : [`${lh.team} translation of the LabVirt server messages.`, 'This file is distributed under the same license as the LabVirt package (MIT).', '']
  const text = renderFile({ comments, msgstr: headerText(fields) }, [...merged, ...obsolete])
  return { text, ...stats }
}

// ---------------------------------------------------------------------------------------------
// Command line

/** The languages with a .po file (en and es at least, created when missing). */
function languages(root) {
  const dir = join(root, LOCALES)
  const found = existsSync(dir) ? readdirSync(dir).map((f) => /^([a-z]{2}(?:_[A-Z]{2})?)\.po$/.exec(f)?.[1]).filter(Boolean) : []
  return [...new Set(['en', 'es', ...found])].sort()
}

/**
 * Computes every file the extractor would write. Returns `{files: [{path, text, changed, ...}], messages, problems}`.
 * Dates only change when something else in a file does, so re-running on unchanged sources is a no-op.
 */
export function plan(root = ROOT, date = nowStamp()) {
  const { messages, problems } = extract(root)
  const project = projectVersion(root)
  const read = (p) => (existsSync(p) ? readFileSync(p, 'utf8') : '')
  const files = []
  const potPath = join(root, LOCALES, POT)
  const potOld = read(potPath)
  let pot = renderPot(messages, { project, date })
  if (sameIgnoringDates(pot, potOld)) pot = potOld
  const potIds = new Set(parsePoFile(potOld).entries.filter((e) => !e.obsolete).map((e) => e.msgid))
  files.push({
    path: potPath,
    text: pot,
    changed: pot !== potOld,
    added: [...messages.keys()].filter((m) => !potIds.has(m)),
    obsoleted: [],
    dropped: [...potIds].filter((m) => !messages.has(m)),
    revived: [],
  })
  for (const lang of languages(root)) {
    const p = join(root, LOCALES, `${lang}.po`)
    const old = read(p)
    const merged = mergePo(old, messages, lang, { project, date })
    const text = sameIgnoringDates(merged.text, old) ? old : merged.text
    files.push({ path: p, lang, ...merged, text, changed: text !== old })
  }
  return { files, messages, problems }
}

function main(argv) {
  const check = argv.includes('--check')
  const json = argv.includes('--json')
  const result = plan(ROOT)
  if (json) {
    const out = Object.fromEntries([...result.messages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    process.stdout.write(`${JSON.stringify({ messages: out, problems: result.problems }, null, 2)}\n`)
    return result.problems.length ? 1 : 0
  }
  for (const p of result.problems) console.error(`${p.ref}: N_() needs one string literal: ${p.text}`)
  let status = result.problems.length ? 1 : 0
  for (const f of result.files) {
    const rel = relative(ROOT, f.path)
    const notes = [
      f.added.length && `${f.added.length} new`,
      f.obsoleted.length && `${f.obsoleted.length} obsolete`,
      f.dropped.length && `${f.dropped.length} dropped`,
      f.revived.length && `${f.revived.length} revived`,
    ].filter(Boolean)
    if (f.lang && f.lang !== 'en') {
      const untranslated = parsePoFile(f.text).entries.filter((e) => !e.obsolete && e.msgstr === '').length
      if (untranslated) notes.push(`${untranslated} untranslated`)
    }
    if (check) {
      // Only msgids count: references move whenever someone edits a source file.
      const stale = f.added.length + f.obsoleted.length + f.dropped.length + f.revived.length > 0
      if (stale) {
        status = 1
        console.error(`${rel} is out of date (${notes.join(', ')})`)
        for (const m of f.added) console.error(`  new: ${JSON.stringify(m)}`)
        for (const m of [...f.obsoleted, ...f.dropped]) console.error(`  no longer used: ${JSON.stringify(m)}`)
        for (const m of f.revived) console.error(`  used again: ${JSON.stringify(m)}`)
      } else if (f.changed) {
        console.log(`${rel}: references moved (not an error)`)
      }
      continue
    }
    if (f.changed) writeFileSync(f.path, f.text)
    console.log(`${rel}: ${f.changed ? 'updated' : 'unchanged'}${notes.length ? ` (${notes.join(', ')})` : ''}`)
  }
  if (check && status === 0) console.log(`locales are up to date (${result.messages.size} messages)`)
  if (check && status !== 0) console.error('run: node scripts/extract-messages.mjs')
  return status
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2))
}
