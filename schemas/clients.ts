import { N_ } from './msgid'
import * as v from 'valibot'
import { ArgText, Description, Name, updateSchema } from './common'

/** `%HOST%`, `%PORT%`, `%USER%`, ... : upper-case names between percent signs. */
export const PLACEHOLDER = /%([A-Z][A-Z0-9_]*)%/g

const clientEntries = {
  name: Name,
  description: Description,
  /** A program name looked up on the terminal's PATH, or an absolute path. */
  program: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_./+-]{1,200}$/, N_('Must be a program name or an absolute path'))),
  args: v.pipe(v.array(ArgText(1000)), v.maxLength(64)),
}

export const ClientCreate = v.strictObject(clientEntries)
export const ClientUpdate = updateSchema(clientEntries)
export type Client = v.InferOutput<typeof ClientCreate>

/** `POST /api/clients/preview`: a client class being edited, and the terminal to fill it in for. */
export const ClientPreview = v.strictObject({
  program: clientEntries.program,
  args: clientEntries.args,
  terminal: Name,
})
