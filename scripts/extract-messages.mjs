#!/usr/bin/env node
/**
 * Extracts the gettext msgids of the server, CLI and console into locales/labvirt.pot and merges
 * them into every locales/<lang>.po: sources read by gettext-extractor, PO files read and written
 * by gettext-parser.
 *
 *   node scripts/extract-messages.mjs           rewrite labvirt.pot and the .po files
 *   node scripts/extract-messages.mjs --check   write nothing; exit 1 when a msgid is missing from
 *                                               a file or no longer used (moved references are fine)
 *   node scripts/extract-messages.mjs --json    print the msgids found in the sources, as JSON
 *
 * A msgid is the string literal (quoted, or back-quoted without `${}`) passed to `N_(...)`
 * (schemas/msgid.ts), and in the console also to vue-i18n's `t(...)`. A `N_(...)` whose argument is
 * not one literal is reported, since it cannot be extracted; a `t(variable)` translates a msgid
 * marked with N_ elsewhere, so it is no problem.
 *
 * Merging keeps every existing translation (and its translator comments and flags), adds new
 * msgids with an empty msgstr, keeps msgids no longer used as obsolete `#~` entries when they
 * carry a translation (so it comes back if the msgid does) and drops them otherwise.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileTemplate, parse as parseSfc } from '@vue/compiler-sfc'
import { GettextExtractor, JsExtractors } from 'gettext-extractor'
import { po } from 'gettext-parser'
import ts from 'typescript'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const SOURCE_DIRS = ['schemas', 'server', 'routes', 'middleware', 'plugins', 'tasks', 'bin', 'ui']
const SOURCE_EXT = /\.(?:[cm]?[jt]s|tsx|jsx|vue)$/
// Build output of the console, not sources.
const SKIP_DIRS = new Set(['node_modules', 'dist', 'generated'])
const LOCALES = 'locales'
const POT = 'labvirt.pot'
const SERVER_CALLS = ['N_']
// `_ctx.t(...)` is how a compiled Vue template calls `t`.
const UI_CALLS = ['N_', 't', '_ctx.t']

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

const isLiteral = (node) => node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))

/** A gettext-extractor JS extractor that reports the `N_(...)` calls it cannot read into `problems`. */
function unreadableCalls(problems) {
  return (node, sourceFile, _addMessage, lineNumberStart = 1) => {
    if (!ts.isCallExpression(node) || !ts.isIdentifier(node.expression) || node.expression.text !== 'N_') return
    const [arg] = node.arguments
    const reason = !isLiteral(arg) || node.arguments.length !== 1 ? node.getText(sourceFile).split('\n')[0] : arg.text === '' ? 'empty msgid' : undefined
    if (!reason) return
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + lineNumberStart
    problems.push({ fileName: sourceFile.fileName, line, text: reason })
  }
}

function newExtractor(calls, problems) {
  const extractor = new GettextExtractor()
  const parser = extractor.createJsParser([JsExtractors.callExpression(calls, { arguments: { text: 0 } }), unreadableCalls(problems)])
  return { extractor, parser }
}

/**
 * A Vue single-file component: its scripts as they are, its template compiled to JavaScript (so
 * template text and attributes never pass for code). A template msgid's line is where its text
 * first appears in the file, since the compiled code has lines of its own.
 */
function parseVue(src, rel, target, problems) {
  const { descriptor } = parseSfc(src, { filename: rel })
  for (const block of [descriptor.script, descriptor.scriptSetup]) {
    if (block) target.parser.parseString(block.content, rel, { lineNumberStart: block.loc.start.line, scriptKind: ts.ScriptKind.TS })
  }
  if (!descriptor.template) return
  const code = compileTemplate({ source: descriptor.template.content, filename: rel, id: rel }).code
  const local = newExtractor(UI_CALLS, problems)
  local.parser.parseString(code, rel, { scriptKind: ts.ScriptKind.JS })
  const lines = src.split('\n')
  const lineOf = (text) => lines.findIndex((l) => l.includes(`'${text}`) || l.includes(`"${text}`)) + 1 || lines.findIndex((l) => l.includes(text)) + 1 || 1
  for (const m of local.extractor.getMessages()) {
    target.extractor.addMessage({ text: m.text, references: [`${rel}:${lineOf(m.text.split('\n')[0])}`] })
  }
}

/**
 * Scans the source folders under `root`. Returns `{messages: Map<msgid, string[] refs>, problems}`,
 * refs being `path:line` with forward slashes.
 */
export function extract(root = ROOT, dirs = SOURCE_DIRS) {
  const rawProblems = []
  const server = newExtractor(SERVER_CALLS, rawProblems)
  const ui = newExtractor(UI_CALLS, rawProblems)
  for (const dir of dirs) {
    for (const file of listFiles(join(root, dir))) {
      const rel = relative(root, file).split(sep).join('/')
      const text = readFileSync(file, 'utf8')
      if (rel.endsWith('.vue')) parseVue(text, rel, ui, rawProblems)
      else (rel.startsWith('ui/') ? ui : server).parser.parseString(text, rel)
    }
  }
  const messages = new Map()
  // Files are parsed in order, the console's last, so each msgid's references are in file order.
  for (const m of [...server.extractor.getMessages(), ...ui.extractor.getMessages()]) {
    if (m.text !== '') messages.set(m.text, [...(messages.get(m.text) ?? []), ...m.references]) // '' is a problem
  }
  const problems = rawProblems.map((p) => ({ ref: `${p.fileName}:${p.line}`, text: p.text }))
  return { messages, problems }
}

// ---------------------------------------------------------------------------------------------
// The PO files

/**
 * The live and obsolete entries of a .po/.pot text (empty: none), as gettext-parser reads them,
 * keyed by msgid; entries with a msgctxt are not ours and are left out.
 */
export function readPo(text) {
  if (!text) return { headers: undefined, comments: undefined, live: new Map(), obsolete: new Map() }
  const table = po.parse(text)
  const entries = (section) => new Map(Object.entries(section?.[''] ?? {}).filter(([msgid]) => msgid !== ''))
  const comments = table.translations['']?.['']?.comments
  // A blank comment line closing the header would come back as `# ` with a trailing space.
  if (comments?.translator) comments.translator = comments.translator.replace(/\n+$/, '')
  return { headers: table.headers, comments, live: entries(table.translations), obsolete: entries(table.obsolete) }
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

const byMsgid = (a, b) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * A PO text from headers, header comments and `[msgid, entry]` lists, sorted by msgid. Lines are
 * only split after a newline, so a msgid can be found with grep.
 */
function compile(headers, headerComments, live, obsolete = []) {
  const section = (list) => ({ '': Object.fromEntries(list) })
  const translations = section([['', { msgid: '', msgstr: [''], comments: headerComments }], ...live])
  return po.compile({ charset: 'utf-8', headers, translations, obsolete: section(obsolete) }, { sort: true, foldLength: 0 }).toString('utf8')
}

/** The text of labvirt.pot for the extracted messages. */
export function renderPot(messages, { project = 'labvirt', date = nowStamp() } = {}) {
  const headers = {
    'Project-Id-Version': project,
    'Report-Msgid-Bugs-To': '',
    'POT-Creation-Date': date,
    'PO-Revision-Date': 'YEAR-MO-DA HO:MI+ZONE',
    'Last-Translator': 'FULL NAME <EMAIL@ADDRESS>',
    'Language-Team': 'LANGUAGE <LL@li.org>',
    Language: '',
    'MIME-Version': '1.0',
    'Content-Type': 'text/plain; charset=UTF-8',
    'Content-Transfer-Encoding': '8bit',
  }
  const comments = {
    translator: [
      'Messages of the LabVirt server, for translation (gettext).',
      'Copyright (C) LabVirt contributors',
      'This file is distributed under the same license as the LabVirt package (MIT).',
      'Generated by scripts/extract-messages.mjs; do not edit by hand.',
    ].join('\n'),
    flag: 'fuzzy',
  }
  const live = [...messages].map(([msgid, refs]) => [msgid, { msgid, msgstr: [''], comments: { reference: refs.join('\n') } }])
  return compile(headers, comments, live)
}

/**
 * Merges the extracted messages into the text of one <lang>.po (empty or missing: a new file).
 * Returns `{text, added, obsoleted, dropped, revived}`.
 */
export function mergePo(existingText, messages, lang, { project = 'labvirt', date = nowStamp() } = {}) {
  const old = readPo(existingText)
  const translated = (e) => Boolean(e.msgstr?.[0])
  const stats = { added: [], obsoleted: [], dropped: [], revived: [] }
  const live = [...messages].map(([msgid, refs]) => {
    // A live entry wins over an obsolete one with the same msgid.
    const prev = old.live.get(msgid) ?? old.obsolete.get(msgid)
    if (!prev) stats.added.push(msgid)
    else if (!old.live.has(msgid)) stats.revived.push(msgid)
    const flags = (prev?.comments?.flag ?? '').split(',').map((f) => f.trim()).filter((f) => f && (f !== 'fuzzy' || translated(prev)))
    const comments = { translator: prev?.comments?.translator, flag: flags.join(', ') || undefined, reference: refs.join('\n') }
    return [msgid, { msgid, msgstr: prev?.msgstr ?? [''], comments }]
  })
  const obsolete = []
  for (const [msgid, e] of [...old.obsolete, ...old.live]) {
    if (messages.has(msgid) || obsolete.some(([m]) => m === msgid)) continue
    const wasLive = old.live.has(msgid)
    if (!translated(e)) {
      if (wasLive) stats.dropped.push(msgid)
      continue
    }
    if (wasLive) stats.obsoleted.push(msgid)
    obsolete.push([msgid, { msgid, msgstr: e.msgstr, comments: { translator: e.comments?.translator, flag: e.comments?.flag } }])
  }
  for (const list of Object.values(stats)) list.sort(byMsgid)

  const lh = LANGUAGE_HEADERS[lang] ?? { team: lang, plural: 'nplurals=2; plural=(n != 1);' }
  const headers = old.headers ?? {
    'Project-Id-Version': project,
    'Report-Msgid-Bugs-To': '',
    'POT-Creation-Date': date,
    'PO-Revision-Date': date,
    'Last-Translator': 'LabVirt contributors',
    'Language-Team': lh.team,
    Language: lang,
    'MIME-Version': '1.0',
    'Content-Type': 'text/plain; charset=UTF-8',
    'Content-Transfer-Encoding': '8bit',
    'Plural-Forms': lh.plural,
  }
  Object.assign(headers, { 'Project-Id-Version': project, 'POT-Creation-Date': date, Language: lang })
  const comments = old.comments?.translator
    ? old.comments
    : { translator: `${lh.team} translation of the LabVirt server messages.\nThis file is distributed under the same license as the LabVirt package (MIT).` }
  return { text: compile(headers, comments, live, obsolete), ...stats }
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
  const potIds = [...readPo(potOld).live.keys()]
  files.push({
    path: potPath,
    text: pot,
    changed: pot !== potOld,
    added: [...messages.keys()].filter((m) => !potIds.includes(m)),
    obsoleted: [],
    dropped: potIds.filter((m) => !messages.has(m)),
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
    const out = Object.fromEntries([...result.messages].sort(([a], [b]) => byMsgid(a, b)))
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
      const untranslated = [...readPo(f.text).live.values()].filter((e) => !e.msgstr?.[0]).length
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
