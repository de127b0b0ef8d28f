import type * as v from 'valibot'
import type { Repositories } from '#storage'
import type { TerminalAdopt } from '#schemas/terminals'
import type { Actor } from '../events'
import { createTerminal } from './index'
import { dropPending, getPending } from './pending'

/**
 * Makes a pending terminal a real one. It is known by its MAC when it gave one (its address may
 * change under DHCP), else by its address; its pending records go.
 */
export async function adoptPending(store: Repositories, actor: Actor, id: string, input: v.InferOutput<typeof TerminalAdopt>) {
  const pending = await getPending(store, id)
  const created = await createTerminal(store, actor, { ...input, ...(pending.mac ? { mac: pending.mac } : { ip: pending.ip }) })
  await dropPending(store, [pending.ip])
  return created
}
