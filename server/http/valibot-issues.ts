import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import type { FieldIssue } from '../errors'

function fieldOf(issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? []).map((p) => String(p.key)).join('.')
}

// Valibot's own messages are English sentences we cannot translate, so issues are mapped to our
// msgids by kind; a message written in a schema is already a msgid and is kept (ours never start
// with "Invalid ", valibot's always do).
function messageOf(issue: v.BaseIssue<unknown>): Pick<FieldIssue, 'message' | 'params'> {
  if (!issue.message.startsWith('Invalid ')) return { message: issue.message }
  const req = (issue as { requirement?: unknown }).requirement
  const isArray = Array.isArray(issue.input)
  if (issue.received === 'undefined' && issue.kind === 'schema') return { message: N_('This field is required') }
  if (issue.type === 'strict_object' && issue.expected === 'never') return { message: N_('Unknown field') }
  switch (issue.type) {
    case 'object':
    case 'strict_object':
      return { message: N_('Must be an object') }
    case 'string':
      return { message: N_('Must be text') }
    case 'number':
      return { message: N_('Must be a number') }
    case 'integer':
      return { message: N_('Must be a whole number') }
    case 'boolean':
      return { message: N_('Must be true or false') }
    case 'array':
      return { message: N_('Must be a list') }
    case 'record':
      return { message: N_('Must be an object') }
    case 'picklist':
      // valibot renders the options as `("a" | "b")` in `expected`.
      return { message: N_('Must be one of: {options}'), params: { options: (issue.expected ?? '').replace(/^\(|\)$|"/g, '').split(' | ').join(', ') } }
    case 'min_length':
      return { message: isArray ? N_('Too few items: the minimum is {n}') : N_('Too short: the minimum length is {n}'), params: { n: Number(req) } }
    case 'max_length':
      return { message: isArray ? N_('Too many items: the maximum is {n}') : N_('Too long: the maximum length is {n}'), params: { n: Number(req) } }
    case 'min_value':
      return { message: N_('Must be at least {n}'), params: { n: Number(req) } }
    case 'max_value':
      return { message: N_('Must be at most {n}'), params: { n: Number(req) } }
    default:
      return { message: N_('Invalid value') }
  }
}

export function toFieldIssues(issues: readonly v.BaseIssue<unknown>[]): FieldIssue[] {
  const seen = new Set<string>()
  const out: FieldIssue[] = []
  for (const issue of issues) {
    const f = { field: fieldOf(issue), ...messageOf(issue) }
    const k = `${f.field}\n${f.message}`
    if (seen.has(k)) continue
    seen.add(k)
    out.push(f)
  }
  return out
}
