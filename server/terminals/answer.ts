import { N_ } from '#schemas/msgid'
import type { HeartbeatState } from '#schemas/terminal-api'
import { deepFreeze, type Repositories } from '#storage'
import type { Context } from '../context'
import { ConflictError } from '../errors'
import { mustPeek } from '../records'
import { seatEndpoint } from '../network/endpoint'
import { assignedSeat, brokerSeat, releaseSeats } from './broker'
import { fillArgs, placeholderValues, type TerminalAnswer } from './command'
import { type Caller, identifyTerminal } from './identify'

type Answer = TerminalAnswer & { params: Record<string, string> }

/**
 * The collections an answer reads: the caller's claim and its terminal, the lab, the client, and for
 * a sticky seat its hint, its assignment, its status and readiness and its pin's claim. A read of
 * another collection on that path belongs here too (answer.test.ts checks the list against the reads).
 */
export const answerInputs = (store: Repositories) => [
  store.claims, store.terminals, store.labs, store.clients, store.terminalSeats, store.assignments, store.vms, store.readiness,
].map((c) => c.prefix)

interface Kept { generation: number; until: number; answer: Answer }
/** Past this many callers the kept answers start over (each is a known terminal's). */
const KEPT_MAX = 20_000
const kept = new WeakMap<Repositories, { inputs: string[]; byCaller: Map<string, Kept> }>()

/**
 * What `GET /api/terminal` answers a terminal: its seat and the client command filled in. A sticky
 * answer that needed no write is kept for its caller while none of its collections changed and its
 * seat needs no renewal (the file store, which sees every write): terminals asking again, as in a
 * boot storm, then get it without the dozen reads and checks it took (a fifth of a request's server
 * CPU: bench/diag-terminal --against). Any write to those collections drops every kept one.
 */
export async function answerTerminal(ctx: Context, caller: Caller, requestHost: string): Promise<Answer> {
  const { store } = ctx
  let memo = kept.get(store)
  if (!memo) kept.set(store, (memo = { inputs: answerInputs(store), byCaller: new Map() }))
  // Taken before the reads: a write landing while they run makes the answer kept from them stale.
  const generation = store.kv.generation(memo.inputs)
  const key = `${caller.ip} ${caller.mac ?? ''} ${requestHost}`
  const hit = memo.byCaller.get(key)
  if (hit && hit.generation === generation && Date.now() < hit.until) return hit.answer
  const { answer, steadyUntil } = await freshAnswer(ctx, caller, requestHost)
  if (generation !== undefined && steadyUntil !== undefined) {
    if (memo.byCaller.size >= KEPT_MAX) memo.byCaller.clear()
    memo.byCaller.set(key, { generation, until: steadyUntil, answer: deepFreeze(answer) as Answer })
  }
  return answer
}

async function freshAnswer(ctx: Context, caller: Caller, requestHost: string): Promise<{ answer: Answer; steadyUntil?: number }> {
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
  return { answer: { ...seat, program: client.program, argv: fillArgs(client.args, placeholderValues(seat, params)), params }, steadyUntil: choice.steadyUntil }
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
