import { defineCommand } from 'citty'
import { parseArgs } from 'node:util'
import { N_ } from '#schemas/msgid'
import type { PendingTerminal } from '#schemas/terminal-api'
import type { Terminal } from '#schemas/terminals'
import type { Stored } from '#storage'
import { Api } from './api'
import { guarded } from './guarded'
import { t } from './i18n'
import { table } from './table'

const json = { type: 'boolean', description: t(N_('Print JSON')) } as const
const pendingId = { type: 'positional', required: true, description: t(N_('Pending terminal id (see: labvirt terminal pending)')) } as const
const pendingPath = (id: string) => `/api/pending-terminals/${encodeURIComponent(id)}`

// sv-SE writes local time as YYYY-MM-DD HH:MM:SS: sortable, and read the same in any language.
const when = (iso: string) => new Date(iso).toLocaleString('sv-SE')

const pending = defineCommand({
  meta: { name: 'pending', description: t(N_('List the unknown terminals that asked for a seat, to adopt or forget')) },
  args: { json },
  run: guarded(async ({ args }) => {
    const list = await Api.fromEnv().call<(PendingTerminal & { id: string })[]>('GET', '/api/pending-terminals')
    if (args.json) return console.log(JSON.stringify(list, null, 2))
    const head = [N_('ID'), N_('IP'), N_('MAC'), N_('FIRST SEEN'), N_('LAST SEEN')].map((h) => t(h))
    console.log(table([head, ...list.map((p) => [p.id, p.ip, p.mac ?? '', when(p.firstSeen), when(p.lastSeen)])]))
  }),
})

const adoptArgs = {
  id: pendingId,
  name: { type: 'string', required: true, description: t(N_('Name of the new terminal')) },
  lab: { type: 'string', required: true, description: t(N_('Lab whose seats it gets')) },
  client: { type: 'string', description: t(N_("Client class (default: the lab's)")) },
  seat: { type: 'string', description: t(N_('A fixed seat number (default: any free seat)')) },
  param: { type: 'string', valueHint: 'KEY=VALUE', description: t(N_('A parameter of the client command (%KEY% in its arguments); repeat for more')) },
} as const

/**
 * citty keeps only the last of a repeated option, so the raw arguments are read again by Node's
 * parser, told every string option (so no other option's value is taken for a --param).
 */
function paramsOf(rawArgs: string[]): Record<string, string> {
  const options = Object.fromEntries(
    Object.entries(adoptArgs).flatMap(([name, arg]) => (arg.type === 'string' ? [[name, { type: 'string' as const, multiple: name === 'param' }]] : [])),
  )
  const given = parseArgs({ args: rawArgs, options, strict: false, allowPositionals: true }).values.param
  const params: Record<string, string> = {}
  for (const p of [given ?? []].flat()) {
    const eq = typeof p === 'string' ? p.indexOf('=') : -1
    if (eq < 1) throw new Error(t(N_('--param takes KEY=VALUE, not "{param}"'), { param: String(p) }))
    params[(p as string).slice(0, eq)] = (p as string).slice(eq + 1)
  }
  return params
}

const adopt = defineCommand({
  meta: { name: 'adopt', description: t(N_('Make a pending terminal a terminal of a lab')) },
  args: adoptArgs,
  run: guarded(async ({ args, rawArgs }) => {
    // A seat that is not a number goes as typed: the server says what is wrong with it.
    const seat = args.seat && /^\d+$/.test(args.seat) ? Number(args.seat) : args.seat
    const body = { name: args.name, lab: args.lab, client: args.client, seat, params: paramsOf(rawArgs) }
    const created = await Api.fromEnv().call<Stored<Terminal>>('POST', `${pendingPath(args.id)}/adopt`, body)
    console.log(t(N_('Adopted {address} as terminal {name} of lab {lab}'), { address: created.mac ?? created.ip ?? args.id, name: created.id, lab: created.lab }))
  }),
})

const forget = defineCommand({
  meta: { name: 'forget', description: t(N_('Forget pending terminals (one that asks again is listed again)')) },
  args: { id: pendingId },
  run: guarded(async ({ args }) => {
    const api = Api.fromEnv()
    for (const id of [args.id, ...args._.slice(1)]) {
      await api.call('DELETE', pendingPath(id))
      console.log(t(N_('Forgot pending terminal {id}'), { id }))
    }
  }),
})

const list = defineCommand({
  meta: { name: 'list', description: t(N_('List the terminals and the lab each belongs to')) },
  args: { json },
  run: guarded(async ({ args }) => {
    const terminals = await Api.fromEnv().call<Stored<Terminal>[]>('GET', '/api/terminals')
    if (args.json) return console.log(JSON.stringify(terminals, null, 2))
    const head = [N_('NAME'), N_('IP'), N_('MAC'), N_('LAB'), N_('SEAT'), N_('CLIENT')].map((h) => t(h))
    console.log(table([head, ...terminals.map((x) => [x.id, x.ip ?? '', x.mac ?? '', x.lab, String(x.seat ?? ''), x.client ?? ''])]))
  }),
})

export const terminal = defineCommand({
  meta: { name: 'terminal', description: t(N_('List terminals; adopt or forget the pending ones')) },
  subCommands: { pending, adopt, forget, list },
})
