import { N_ } from './msgid'
import * as v from 'valibot'
import { ArgText, Description, Ipv4, Mac, Name, updateSchema } from './common'
import { MAX_SEATS } from './labs'

export const ParamName = v.pipe(v.string(), v.regex(/^[A-Z][A-Z0-9_]{0,31}$/, N_('Parameter names are upper-case letters, digits and _')))

const terminalEntries = {
  name: Name,
  description: Description,
  ip: v.optional(Ipv4),
  mac: v.optional(Mac),
  lab: Name,
  /** The client class; the lab's when unset. */
  client: v.optional(Name),
  /** A fixed seat number in the lab; unset = the broker picks one. */
  seat: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SEATS))),
  params: v.optional(v.pipe(v.record(ParamName, ArgText(500)), v.check((r) => Object.keys(r).length <= 32, N_('At most 32 parameters'))), {}),
}

const NEEDS_ADDRESS = N_('A terminal needs an IP address or a MAC address')

export const TerminalCreate = v.pipe(
  v.strictObject(terminalEntries),
  v.forward(v.check((t) => Boolean(t.ip || t.mac), NEEDS_ADDRESS), ['ip']),
)
export const TerminalUpdate = v.pipe(
  updateSchema(terminalEntries),
  v.forward(v.check((t) => Boolean(t.ip || t.mac), NEEDS_ADDRESS), ['ip']),
)
export type Terminal = v.InferOutput<typeof TerminalCreate>

/** Adopting a pending terminal: its address comes from the pending record. */
export const TerminalAdopt = v.omit(v.strictObject(terminalEntries), ['ip', 'mac'])
