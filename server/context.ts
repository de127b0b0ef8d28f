import { type Config, readConfig } from './config'
import { openKv, repositories, type Repositories } from '#storage'
import { flushRenewals } from './terminals/renewals'

/** What the domain needs from the running server: its settings and its store. */
export interface Context {
  config: Config
  store: Repositories
}

let current: Promise<Context> | undefined
let started = false

/** Start-up work (the admin bootstrap) is done: until then health answers 503. */
export function markStarted() {
  started = true
}
export const isStarted = () => started

/** Opens the store once per process; plugins and handlers share it. */
export function useContext(): Promise<Context> {
  current ??= (async () => {
    const config = readConfig()
    const kv = await openKv({ url: config.storeUrl, dir: config.dataDir })
    return { config, store: repositories(kv) }
  })().catch((err) => {
    current = undefined // let the next caller try again
    throw err
  })
  return current
}

export async function closeContext() {
  if (!current) return
  const ctx = await current
  current = undefined
  await flushRenewals(ctx.store)
  await ctx.store.kv.close()
}
