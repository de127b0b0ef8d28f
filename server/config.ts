import { hostname } from 'node:os'
import { resolve } from 'node:path'

/** Settings from the environment (see DESIGN.md, Configuration). Read once, at start. */
export interface Config {
  dataDir: string
  storeUrl?: string
  hostId: string
  adminPassword?: string
  trustProxy: string[]
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    dataDir: resolve(env.LABVIRT_DATA_DIR || './data'),
    storeUrl: env.LABVIRT_STORE_URL || undefined,
    hostId: env.LABVIRT_HOST_ID || hostname(),
    adminPassword: env.LABVIRT_ADMIN_PASSWORD || undefined,
    trustProxy: (env.LABVIRT_TRUST_PROXY || '').split(/[\s,]+/).filter(Boolean),
  }
}
