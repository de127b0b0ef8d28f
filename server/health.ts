import type { Context } from './context'

/** Liveness plus whether the store answers; the API itself stays up while the store is down. */
export async function health({ store, config }: Context) {
  let storeOk = true
  try {
    await store.kv.ping()
  } catch {
    storeOk = false
  }
  return { ok: storeOk, store: { kind: store.kv.kind, ok: storeOk }, host: config.hostId, version: process.env.npm_package_version ?? '0.1.0' }
}
