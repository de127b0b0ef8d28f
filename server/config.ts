import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

/** Settings from the environment (see DESIGN.md, Configuration). Read once, at start. */
export interface Config {
  dataDir: string
  storeUrl?: string
  hostId: string
  adminPassword?: string
  trustProxy: string[]
  qemu: string
  /** How long a powerdown waits for the guest (ACPI) before it quits QEMU. */
  powerdownTimeoutMs: number
  /** How often the reconcile loop runs even when nothing triggers it. */
  reconcileIntervalMs: number
  /** `LABVIRT_RECONCILE=off`: serve the API but start, stop and adopt no VM on this host. */
  reconcile: boolean
}

function seconds(value: string | undefined, fallback: number) {
  const n = Number(value)
  return value && Number.isFinite(n) && n > 0 ? n : fallback
}

export const runDir = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, 'run')
export const imagesDir = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, 'images')

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    dataDir: resolve(env.LABVIRT_DATA_DIR || './data'),
    storeUrl: env.LABVIRT_STORE_URL || undefined,
    hostId: env.LABVIRT_HOST_ID || hostname(),
    adminPassword: env.LABVIRT_ADMIN_PASSWORD || undefined,
    trustProxy: (env.LABVIRT_TRUST_PROXY || '').split(/[\s,]+/).filter(Boolean),
    qemu: env.LABVIRT_QEMU || 'qemu-system-x86_64',
    powerdownTimeoutMs: seconds(env.LABVIRT_POWERDOWN_TIMEOUT, 60) * 1000,
    reconcileIntervalMs: seconds(env.LABVIRT_RECONCILE_INTERVAL, 5) * 1000,
    reconcile: env.LABVIRT_RECONCILE !== 'off',
  }
}
