import { N_ } from '#schemas/msgid'
import type { HeartbeatState } from '#schemas/terminal-api'
import type { Context } from '../context'
import { ConflictError } from '../errors'
import { mustPeek } from '../records'
import { seatEndpoint } from '../network/endpoint'
import { assignedSeat, brokerSeat, releaseSeats } from './broker'
import { fillArgs, placeholderValues, type TerminalAnswer } from './command'
import { type Caller, identifyTerminal } from './identify'

/** What `GET /api/terminal` answers a terminal: its seat and the client command filled in. */
export async function answerTerminal(ctx: Context, caller: Caller, requestHost: string): Promise<TerminalAnswer & { params: Record<string, string> }> {
  const { store, config } = ctx
  const terminal = await identifyTerminal(store, caller)
  const lab = await mustPeek(store.labs, N_('lab'), terminal.lab)
  const clientId = terminal.client ?? lab.client
  if (!clientId) {
    throw new ConflictError(N_('Lab "{lab}" has no client class, nor has terminal "{terminal}": set one on either'), { lab: lab.id, terminal: terminal.id })
  }
  const client = await mustPeek(store.clients, N_('client'), clientId)
  const choice = await brokerSeat(store, terminal, lab, { timeoutMs: config.heartbeatTimeoutMs, probing: config.probeIntervalMs !== undefined })
  const endpoint = seatEndpoint(choice.lab, choice.seat, requestHost)
  if (!endpoint) {
    throw new ConflictError(N_('Lab "{lab}" gives its seats no address a terminal can reach (a bridge or tap lab needs an IP base)'), { lab: lab.id })
  }
  const seat = { terminal: terminal.id, lab: lab.id, seat: choice.vm, host: endpoint.host, port: endpoint.port }
  const params = terminal.params ?? {}
  return { ...seat, program: client.program, argv: fillArgs(client.args, placeholderValues(seat, params)), params }
}

/**
 * The launcher's heartbeat, kept under the terminal's name with the seat it was given. `idle` (its
 * client ended) gives the seat up at once: only `connected` holds one.
 */
export async function recordHeartbeat(ctx: Context, caller: Caller, state: HeartbeatState) {
  const terminal = await identifyTerminal(ctx.store, caller)
  if (state === 'idle') await releaseSeats(ctx.store, terminal)
  const seat = state === 'idle' ? undefined : await assignedSeat(ctx.store, terminal)
  await ctx.store.heartbeats.upsert(terminal.id, () => ({ terminal: terminal.id, ...(seat ? { seat } : {}), state, at: new Date().toISOString() }))
}
