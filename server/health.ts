import { type Context, isStarted } from './context'

/**
 * Whether this host can serve: start-up finished and the store answers. The API stays up while
 * the store is down (it answers 503 itself), so this is for load balancers and monitoring.
 */
export async function health({ store, config }: Context) {
  let storeOk = true
  try {
    await store.kv.ping()
  } catch {
    storeOk = false
  }
  const started = isStarted()
  return {
    ok: storeOk && started,
    started,
    store: { kind: store.kv.kind, ok: storeOk },
    host: config.hostId,
    version: process.env.npm_package_version ?? '0.1.0',
  }
}
