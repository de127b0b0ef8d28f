import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import type { ClientPreview } from '#schemas/clients'
import type { Repositories } from '#storage'
import { ConflictError } from '../errors'
import { mustGet } from '../records'
import { seatEndpoint } from '../network/endpoint'
import { assignedSeat, pinOf } from '../terminals/broker'
import { commandLine, fillArgs, placeholderValues } from '../terminals/command'

/**
 * The command line `terminal` would be told to run with this (possibly unsaved) client class, by
 * the same rules as GET /api/terminal. Nothing is assigned: the seat shown is the one the terminal
 * holds now, else its pinned seat, else the lab's first seat as an example.
 */
export async function previewClient(store: Repositories, input: v.InferOutput<typeof ClientPreview>, requestHost: string) {
  const terminal = await mustGet(store.terminals, N_('terminal'), input.terminal)
  const lab = await mustGet(store.labs, N_('lab'), terminal.lab)
  const vm = (await assignedSeat(store, terminal)) ?? pinOf(terminal) ?? `${lab.id}-1`
  const seat = Number(vm.slice(lab.id.length + 1))
  const endpoint = seatEndpoint(lab, seat, requestHost)
  if (!endpoint) {
    throw new ConflictError(N_('Lab "{lab}" gives its seats no address a terminal can reach (a bridge or tap lab needs an IP base)'), { lab: lab.id })
  }
  const values = placeholderValues({ terminal: terminal.id, lab: lab.id, seat: vm, ...endpoint }, terminal.params)
  const argv = fillArgs(input.args, values)
  return { program: input.program, argv, line: commandLine({ program: input.program, argv }).trimEnd(), seat: vm }
}
