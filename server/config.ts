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
  /** A terminal's heartbeat older than this is stale (LABVIRT_HEARTBEAT_TIMEOUT, seconds). */
  heartbeatTimeoutMs: number
  /** User-mode labs get their host port blocks from this range (LABVIRT_FORWARD_PORTS, `from-to`). */
  forwardPorts: { from: number; to: number }
  /** The address user-mode forwards listen on (LABVIRT_FORWARD_ADDRESS); all addresses when unset. */
  forwardAddress?: string
  /** How often connection tracking is read (LABVIRT_CONNECTION_POLL, seconds). */
  connectionPollMs: number
  /** Managed dnsmasq: the interface it serves (LABVIRT_DHCP_INTERFACE) and its range (LABVIRT_DHCP_RANGE). */
  dhcp?: { interface: string; range: string }
}

function portRange(value: string | undefined): { from: number; to: number } {
  const m = /^(\d+)-(\d+)$/.exec(value ?? '')
  const [from, to] = m ? [Number(m[1]), Number(m[2])] : [20000, 29999]
  if (from < 1024 || to > 65535 || from > to) throw new Error(`LABVIRT_FORWARD_PORTS must be a range like 20000-29999, got ${value}`)
  return { from, to }
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
    heartbeatTimeoutMs: seconds(env.LABVIRT_HEARTBEAT_TIMEOUT, 90) * 1000,
    forwardPorts: portRange(env.LABVIRT_FORWARD_PORTS),
    forwardAddress: env.LABVIRT_FORWARD_ADDRESS || undefined,
    connectionPollMs: seconds(env.LABVIRT_CONNECTION_POLL, 2) * 1000,
    dhcp: env.LABVIRT_DHCP_INTERFACE ? { interface: env.LABVIRT_DHCP_INTERFACE, range: env.LABVIRT_DHCP_RANGE || 'static' } : undefined,
  }
}
