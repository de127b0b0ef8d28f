import { N_ } from '#schemas/msgid'
import type { Terminal } from '#schemas/terminals'
import { type Frozen, type Repositories, type Stored } from '#storage'
import { ForbiddenError } from '../errors'
import { recordPending } from './pending'

/** How a terminal presents itself: the address it calls from, and the MAC it may name. */
export interface Caller {
  ip: string
  mac?: string
}

/**
 * The terminal a unique claim (its IP, MAC or pinned seat) names, in one read of the claim; a claim
 * its owner no longer holds (the value changed, or a crash mid-write) names nobody, so `holds`
 * checks the record too.
 */
export async function claimedTerminal(store: Repositories, space: 'terminal-ip' | 'terminal-mac' | 'terminal-seat', value: string, holds: (t: Frozen<Terminal>) => boolean) {
  const owner = await store.claims.owner(space, value)
  const terminal = owner ? await store.terminals.peek(owner) : null
  return terminal && holds(terminal) ? terminal : null
}

/** The id of the terminal known at address `ip` (the connection watcher names who is on a seat). */
export const terminalAtAddress = async (store: Repositories, ip: string) =>
  (await claimedTerminal(store, 'terminal-ip', ip, (t) => t.ip === ip))?.id

const byClaim = (store: Repositories, space: 'terminal-ip' | 'terminal-mac', field: 'ip' | 'mac', value: string) =>
  claimedTerminal(store, space, value, (t) => t[field] === value)

/**
 * The terminal calling: by the MAC it names, else by its address; a terminal known by both is
 * answered only when both match, so neither a MAC nor an address alone takes another terminal's
 * seat. An unknown MAC is never answered by its address: it is noted as pending for an admin to
 * adopt. Every refusal reads the same, so a caller cannot tell a known MAC from an unknown one.
 */
export async function identifyTerminal(store: Repositories, caller: Caller): Promise<Frozen<Stored<Terminal>>> {
  const terminal = caller.mac ? await byClaim(store, 'terminal-mac', 'mac', caller.mac) : await byClaim(store, 'terminal-ip', 'ip', caller.ip)
  if (terminal && (!terminal.ip || terminal.ip === caller.ip) && (!terminal.mac || terminal.mac === caller.mac)) return terminal
  // A known terminal's MAC or address used from elsewhere is not a new terminal to list.
  if (!terminal) await recordPending(store, caller.ip, caller.mac)
  throw new ForbiddenError(
    N_('This terminal ({address}) is not known to LabVirt; an administrator can adopt it from the pending terminals'),
    { address: caller.mac ?? caller.ip },
  )
}
