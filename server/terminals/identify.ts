import { N_ } from '../../schemas/msgid'
import type { Terminal } from '../../schemas/terminals'
import { type Repositories, type Stored, uniqueOwner } from '../../storage'
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
export async function claimedTerminal(store: Repositories, space: 'terminal-ip' | 'terminal-mac' | 'terminal-seat', value: string, holds: (t: Terminal) => boolean) {
  const owner = await uniqueOwner(store.kv, space, value)
  const terminal = owner ? await store.terminals.get(owner) : null
  return terminal && holds(terminal) ? terminal : null
}

const byClaim = (store: Repositories, space: 'terminal-ip' | 'terminal-mac', field: 'ip' | 'mac', value: string) =>
  claimedTerminal(store, space, value, (t) => t[field] === value)

/**
 * The terminal calling: by the MAC it names, else by its address. An unknown one is noted as
 * pending for an admin to adopt, and refused.
 */
export async function identifyTerminal(store: Repositories, caller: Caller): Promise<Stored<Terminal>> {
  const terminal = (caller.mac && (await byClaim(store, 'terminal-mac', 'mac', caller.mac))) || (await byClaim(store, 'terminal-ip', 'ip', caller.ip))
  if (terminal) return terminal
  await recordPending(store, caller.ip, caller.mac)
  throw new ForbiddenError(
    N_('This terminal ({address}) is not known to LabVirt; an administrator can adopt it from the pending terminals'),
    { address: caller.mac ?? caller.ip },
  )
}
