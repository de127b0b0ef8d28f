import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import * as ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * A message the extractor cannot see stays English for everyone. This looks for English text in the
 * places a message goes (an error's arguments, `msg(...)`, a schema check, `message:`) that is not
 * wrapped in `N_(...)`.
 */
const ROOT = resolve(__dirname, '../../..')
const DIRS = ['schemas', 'server', 'routes', 'middleware', 'plugins', 'tasks', 'bin']

/** The source with its comments, as TypeScript parses them, blanked (newlines kept, so line numbers hold). */
function stripComments(src: string): string {
  const file = ts.createSourceFile('source.ts', src, ts.ScriptTarget.Latest, true)
  const chars = src.split('')
  const blank = (r: ts.CommentRange) => {
    for (let i = r.pos; i < r.end; i++) if (chars[i] !== '\n') chars[i] = ' '
  }
  const visit = (node: ts.Node) => {
    ts.getLeadingCommentRanges(src, node.getFullStart())?.forEach(blank)
    ts.getTrailingCommentRanges(src, node.end)?.forEach(blank)
    node.getChildren(file).forEach(visit)
  }
  visit(file)
  return chars.join('')
}

function files(dir: string, out: string[] = []): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of names) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) files(p, out)
    else if (/\.(?:[cm]?[jt]s)$/.test(name) && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

// Calls whose string arguments are messages; `new Error(...)` and friends are internal (logged).
const MESSAGE_CALLS = /(?:\bnew\s+(?!Error\b|TypeError\b|RangeError\b)[A-Z]\w*Error|(?<![\w$.])msg|\bv\.(?:check|regex|custom|rawCheck|partialCheck|minLength|maxLength|minValue|maxValue|length|integer|picklist|literal|string|number|boolean))\s*\(/g
const STRING_SOURCE = /'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/.source
const strings = () => new RegExp(STRING_SOURCE, 'g')
// Drivers report problems in English for the log (DESIGN.md: drivers know nothing of HTTP); the
// tiny guest's builder drives apt and mtools, and its reasons quote their words.
const INTERNAL = [/^server\/qemu\//, /^server\/network\//, /^server\/images\/tiny-guest\.ts$/]

/** English words outside `{placeholders}`: a message to translate, as opposed to a code or a format. */
const looksLikeText = (lit: string) => /[A-Za-z]{2,}\s+[A-Za-z]/.test(lit.slice(1, -1).replace(/\{\w+\}|\$\{[^}]*\}/g, ''))

/** The text between the `(` at `open` and its matching `)`, skipping strings. */
function argsAt(code: string, open: number): string {
  const STRING = strings()
  let depth = 0
  for (let i = open; i < code.length; i++) {
    const c = code[i]!
    if (c === "'" || c === '"' || c === '`') {
      STRING.lastIndex = i
      const m = STRING.exec(code)
      if (m && m.index === i) {
        i += m[0].length - 1
        continue
      }
    }
    if (c === '(' || c === '[' || c === '{') depth++
    else if (c === ')' || c === ']' || c === '}') {
      depth--
      if (depth === 0) return code.slice(open, i + 1)
    }
  }
  return code.slice(open)
}

function unmarked(code: string): { index: number; literal: string }[] {
  const found: { index: number; literal: string }[] = []
  const check = (text: string, offset: number) => {
    for (const m of text.matchAll(strings())) {
      if (!looksLikeText(m[0])) continue
      const before = text.slice(0, m.index).trimEnd()
      if (/(?<![\w$.])N_\s*\($/.test(before)) continue
      found.push({ index: offset + m.index!, literal: m[0] })
    }
  }
  for (const m of code.matchAll(MESSAGE_CALLS)) {
    const open = m.index! + m[0].length - 1
    check(argsAt(code, open), open)
  }
  for (const m of code.matchAll(/\bmessage\s*:\s*/g)) {
    const start = m.index! + m[0].length
    const STRING = strings()
    STRING.lastIndex = start
    const lit = STRING.exec(code)
    if (lit && lit.index === start && looksLikeText(lit[0])) found.push({ index: start, literal: lit[0] })
  }
  return found
}

describe('user-visible messages', () => {
  it('are all marked with N_() so they get translated', () => {
    const problems = new Set<string>()
    for (const dir of DIRS) {
      for (const file of files(join(ROOT, dir))) {
        if (INTERNAL.some((re) => re.test(relative(ROOT, file)))) continue
        const src = readFileSync(file, 'utf8')
        const code = stripComments(src)
        for (const f of unmarked(code)) {
          const line = code.slice(0, f.index).split('\n').length
          problems.add(`${relative(ROOT, file)}:${line}: ${f.literal}`)
        }
      }
    }
    expect([...problems].sort(), 'wrap these in N_() (schemas/msgid.ts), then run `node scripts/extract-messages.mjs`').toEqual([])
  })

  it('the check itself finds unmarked messages and accepts marked ones', () => {
    const code = [
      "throw new ConflictError('\"{id}\" is the last administrator', { id })",
      "throw new ConflictError(N_('A marked one'), { id })",
      "v.check((d) => d.ok, 'A CD-ROM must be on the IDE bus')",
      "fields.push({ field: '', message: 'A JSON body is required' })",
      "msg('{kind}: {ids}', { kind })",
      "throw new Error(`invalid store key: ${key}`)",
      "new DomainError(413, 'too_large', N_('Too large'))",
    ].join('\n')
    expect(unmarked(code).map((f) => f.literal)).toEqual([
      "'\"{id}\" is the last administrator'",
      "'A CD-ROM must be on the IDE bus'",
      "'A JSON body is required'",
    ])
    const commented = stripComments("// msg('A commented message')\n/* msg('Another one') */ msg('A real message')")
    expect(unmarked(commented).map((f) => f.literal)).toEqual(["'A real message'"])
  })
})
