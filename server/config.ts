import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { IFNAME_PATTERN, IPV4_PATTERN } from '#schemas/common'
import type { Accel } from './qemu/args'
import { resolveAccel } from './qemu/accel'

/** Settings from the environment (see DESIGN.md, Configuration). Read once, at start. */
export interface Config {
  dataDir: string
  /** What LabVirt builds once and keeps (the demo's tiny guest): LABVIRT_CACHE_DIR, `<data>/cache` by default. */
  cacheDir: string
  storeUrl?: string
  hostId: string
  adminPassword?: string
  trustProxy: string[]
  /** The origin browsers reach LabVirt at through a proxy (LABVIRT_PUBLIC_URL), e.g. `https://labs.example.edu`. */
  publicUrl?: string
  qemu: string
  /** LABVIRT_ACCEL (kvm, tcg or auto): `auto` is resolved here, /dev/kvm probed once at start. */
  accel: Accel
  /**
   * QEMU's nice value (LABVIRT_QEMU_NICE, 0-19): guests booting at once must not starve the API.
   * The lowest priority by default: guests weigh the same among themselves, and the server, which
   * needs little CPU but needs it at once (a lab booting, terminals asking), goes first.
   */
  qemuNice: number
  /** How long a powerdown waits for the guest (ACPI) before it quits QEMU. */
  powerdownTimeoutMs: number
  /** How long a request body may take to arrive (LABVIRT_REQUEST_TIMEOUT, seconds). */
  requestTimeoutMs: number
  /** Requests one client address may have under way at once (LABVIRT_MAX_REQUESTS_PER_ADDRESS). */
  maxRequestsPerAddress: number
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
  /** How LabVirt tells who is connected to a seat (LABVIRT_CONNECTION_TRACKING, see README). */
  connectionTracking: ConnectionTracking
  /**
   * Managed dnsmasq: the interface it serves (LABVIRT_DHCP_INTERFACE) and its --dhcp-range
   * (LABVIRT_DHCP_RANGE, required with it: `10.77.0.0,static` serves the reservations only).
   */
  dhcp?: { interface: string; range: string }
  /**
   * The user QEMU drops to (`-runas`) when LabVirt runs as root: LABVIRT_QEMU_USER, `labvirt` by
   * default; `root` keeps QEMU as root. Unset when LabVirt is not root (it cannot switch users).
   */
  qemuUser?: string
  /** The largest image upload taken (LABVIRT_UPLOAD_MAX, bytes; `64G`-style suffixes). */
  uploadMaxBytes: number
  /** Free space an upload, import or conversion must leave in the data dir (LABVIRT_DISK_RESERVE). */
  diskReserveBytes: number
  /** The bearer token GET /metrics asks for (LABVIRT_METRICS_TOKEN); open when unset. */
  metricsToken?: string
  /** How often this host and its VMs are sampled (LABVIRT_SAMPLE_INTERVAL, seconds; 0: `off`). */
  sampleIntervalMs: number
  /** This host's page in an external Munin or Grafana (LABVIRT_MONITORING_URL), linked from the console. */
  monitoringUrl?: string
  /** How often a ready seat is probed (LABVIRT_PROBE_INTERVAL, seconds; one booting: every 0.5 s); undefined: `off`. */
  probeIntervalMs?: number
  /** A ready seat silent this long is unhealthy, and restarted with nobody on it (LABVIRT_UNHEALTHY_AFTER, seconds). */
  unhealthyAfterMs: number
  /** The share of a lab's seats a move to a new version may have down at once (LABVIRT_RESTART_SHARE, `25%` or `0.25`). */
  restartShare: number
  /** How long a version nothing uses is kept before the clean-up deletes it (LABVIRT_VERSION_GRACE, seconds). */
  versionGraceMs: number
}

/** A setting the server cannot start with: it says which and why, and the server exits. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

// For the operator reading the start-up log, which is English like the rest of the server's log.
function refuse(text: string): never {
  throw new ConfigError(text)
}

export const CONNECTION_TRACKING = ['auto', 'conntrack', 'heartbeat', 'off'] as const
export type ConnectionTracking = (typeof CONNECTION_TRACKING)[number]

function connectionTracking(value: string | undefined): ConnectionTracking {
  if (!value) return 'auto'
  if (!(CONNECTION_TRACKING as readonly string[]).includes(value)) refuse(`LABVIRT_CONNECTION_TRACKING must be one of ${CONNECTION_TRACKING.join(', ')}, got ${value}`)
  return value as ConnectionTracking
}

function portRange(value: string | undefined): { from: number; to: number } {
  const m = /^(\d+)-(\d+)$/.exec(value ?? '')
  if (value && !m) refuse(`LABVIRT_FORWARD_PORTS must be a range like 20000-29999, got ${value}`)
  const [from, to] = m ? [Number(m[1]), Number(m[2])] : [20000, 29999]
  if (from < 1024 || to > 65535 || from > to) refuse(`LABVIRT_FORWARD_PORTS must be a range like 20000-29999, got ${value}`)
  return { from, to }
}

// These reach dnsmasq's and QEMU's command lines: strict, and refused at start with the reason.
const LEASE = /^(?:infinite|\d{1,7}[smhdw]?)$/

function forwardAddress(value: string | undefined): string | undefined {
  if (!value) return undefined
  if (!IPV4_PATTERN.test(value)) refuse(`LABVIRT_FORWARD_ADDRESS must be an IPv4 address like 127.0.0.1, got ${value}`)
  return value
}

/** dnsmasq's --dhcp-range, limited to what LabVirt means by it: `start,end[,lease]` or `network,static[,lease]`. */
function dhcpRange(value: string): boolean {
  const [a, b, lease, ...rest] = value.split(',')
  if (rest.length || !a || !b || !IPV4_PATTERN.test(a) || (lease !== undefined && !LEASE.test(lease))) return false
  return b === 'static' || IPV4_PATTERN.test(b)
}

function dhcpSettings(env: NodeJS.ProcessEnv): Config['dhcp'] {
  const iface = env.LABVIRT_DHCP_INTERFACE
  if (!iface) return undefined
  if (!IFNAME_PATTERN.test(iface)) refuse(`LABVIRT_DHCP_INTERFACE must be a network interface name, got ${iface}`)
  const range = env.LABVIRT_DHCP_RANGE ?? ''
  if (!dhcpRange(range)) {
    refuse(`LABVIRT_DHCP_RANGE must be "<first>,<last>[,<lease>]" or "<network>,static[,<lease>]" (e.g. 10.77.0.0,static), got "${range}"`)
  }
  return { interface: iface, range }
}

function publicUrl(value: string | undefined): string | undefined {
  if (!value) return undefined
  let u: URL | undefined
  try {
    u = new URL(value)
  } catch {}
  if (!u || !/^https?:$/.test(u.protocol) || u.username || u.password || u.pathname !== '/' || u.search || u.hash) {
    refuse(`LABVIRT_PUBLIC_URL must be the scheme, host and port browsers use, like https://labs.example.edu, got ${value}`)
  }
  return u.origin
}

function sampleInterval(value: string | undefined): number {
  if (value === 'off') return 0
  if (!value) return 5000
  const n = Number(value)
  // Below a second the hour's ring would grow past 3600 samples per VM.
  if (!Number.isFinite(n) || n < 1 || n > 3600) refuse(`LABVIRT_SAMPLE_INTERVAL must be a number of seconds from 1 to 3600, or off, got ${value}`)
  return n * 1000
}

// Shown as a link to every signed-in user: http(s) only (never javascript: or data:), no credentials.
function monitoringUrl(value: string | undefined): string | undefined {
  if (!value) return undefined
  let u: URL | undefined
  try {
    u = new URL(value)
  } catch {}
  if (!u || !/^https?:$/.test(u.protocol) || u.username || u.password) {
    refuse(`LABVIRT_MONITORING_URL must be an http or https address without a user or password, like https://munin.example.edu/lab/host1/, got ${value}`)
  }
  return u.href
}

function qemuUser(value: string | undefined, uid: number | undefined): string | undefined {
  const name = value || 'labvirt'
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) refuse(`LABVIRT_QEMU_USER must be a user name, got ${value}`)
  if (uid !== 0) {
    if (value && value !== 'root') console.warn(`LABVIRT_QEMU_USER=${value} has no effect: LabVirt is not root, so QEMU runs as LabVirt's user`)
    return undefined
  }
  if (name === 'root') return undefined
  // QEMU would refuse every start with its own words; say it once, with the fix.
  if (spawnSync('getent', ['passwd', name]).status !== 0) {
    refuse(`LABVIRT_QEMU_USER: no user "${name}" (scripts/setup.sh creates "labvirt"; LABVIRT_QEMU_USER=root keeps QEMU as root)`)
  }
  return name
}

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number) {
  const value = env[name]
  if (!value) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) refuse(`${name} must be a number of seconds above 0, got ${value}`)
  return n
}

/** LABVIRT_PROBE_INTERVAL: seconds between probes of a ready seat, 5 by default; `off`: no probes (a running seat counts as ready). */
function probeInterval(value: string | undefined): number | undefined {
  if (value === 'off') return undefined
  if (!value) return 5000
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) refuse(`LABVIRT_PROBE_INTERVAL must be a number of seconds above 0, or off, got ${value}`)
  return n * 1000
}

function count(env: NodeJS.ProcessEnv, name: string, fallback: number) {
  const value = env[name]
  if (!value) return fallback
  if (!/^[1-9]\d{0,5}$/.test(value)) refuse(`${name} must be a whole number above 0, got ${value}`)
  return Number(value)
}

const ACCELS = ['auto', 'kvm', 'tcg'] as const

function accel(value: string | undefined, kvmDevice: string): Accel {
  const wanted = (value || 'auto').trim().toLowerCase()
  if (!(ACCELS as readonly string[]).includes(wanted)) refuse(`LABVIRT_ACCEL must be one of ${ACCELS.join(', ')}, got ${value}`)
  return resolveAccel(wanted as (typeof ACCELS)[number], kvmDevice)
}

function niceValue(value: string | undefined): number {
  if (!value) return 19
  if (!/^\d{1,2}$/.test(value) || Number(value) > 19) refuse(`LABVIRT_QEMU_NICE must be a whole number from 0 to 19, got ${value}`)
  return Number(value)
}

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }

/** A size like `64G`, `512M` or `1073741824` (bytes). */
function bytes(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name]
  if (!value) return fallback
  const m = /^(\d{1,15})([KMGT]?)i?B?$/i.exec(value.trim())
  if (!m) refuse(`${name} must be a size like 64G, 512M or a number of bytes, got ${value}`)
  return Number(m[1]) * UNITS[m[2]!.toUpperCase()]!
}

function share(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name]?.trim()
  if (!value) return fallback
  const m = /^(\d{1,3}(?:\.\d+)?)(%?)$/.exec(value)
  const n = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN
  if (!(n > 0 && n <= 1)) refuse(`${name} must be a share above 0 and at most 100%, like 25% or 0.25, got ${value}`)
  return n
}

function onOff(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = env[name]
  if (value && value !== 'on' && value !== 'off') refuse(`${name} must be on or off, got ${value}`)
  return value !== 'off'
}

export const runDir = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, 'run')
export const imagesDir = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, 'images')

/** Every setting, checked: a bad one is a ConfigError, and the server says so and exits at start. */
export function readConfig(env: NodeJS.ProcessEnv = process.env, kvmDevice = '/dev/kvm', uid = process.getuid?.()): Config {
  const dataDir = resolve(env.LABVIRT_DATA_DIR || './data')
  return {
    dataDir,
    cacheDir: env.LABVIRT_CACHE_DIR ? resolve(env.LABVIRT_CACHE_DIR) : join(dataDir, 'cache'),
    storeUrl: env.LABVIRT_STORE_URL || undefined,
    hostId: env.LABVIRT_HOST_ID || hostname(),
    adminPassword: env.LABVIRT_ADMIN_PASSWORD || undefined,
    trustProxy: (env.LABVIRT_TRUST_PROXY || '').split(/[\s,]+/).filter(Boolean),
    publicUrl: publicUrl(env.LABVIRT_PUBLIC_URL),
    qemu: env.LABVIRT_QEMU || 'qemu-system-x86_64',
    accel: accel(env.LABVIRT_ACCEL, kvmDevice),
    qemuNice: niceValue(env.LABVIRT_QEMU_NICE),
    powerdownTimeoutMs: seconds(env, 'LABVIRT_POWERDOWN_TIMEOUT', 60) * 1000,
    reconcileIntervalMs: seconds(env, 'LABVIRT_RECONCILE_INTERVAL', 5) * 1000,
    requestTimeoutMs: seconds(env, 'LABVIRT_REQUEST_TIMEOUT', 30) * 1000,
    maxRequestsPerAddress: count(env, 'LABVIRT_MAX_REQUESTS_PER_ADDRESS', 200),
    reconcile: onOff(env, 'LABVIRT_RECONCILE'),
    heartbeatTimeoutMs: seconds(env, 'LABVIRT_HEARTBEAT_TIMEOUT', 90) * 1000,
    forwardPorts: portRange(env.LABVIRT_FORWARD_PORTS),
    forwardAddress: forwardAddress(env.LABVIRT_FORWARD_ADDRESS),
    connectionPollMs: seconds(env, 'LABVIRT_CONNECTION_POLL', 2) * 1000,
    connectionTracking: connectionTracking(env.LABVIRT_CONNECTION_TRACKING),
    dhcp: dhcpSettings(env),
    qemuUser: qemuUser(env.LABVIRT_QEMU_USER, uid),
    uploadMaxBytes: bytes(env, 'LABVIRT_UPLOAD_MAX', 64 * 2 ** 30),
    diskReserveBytes: bytes(env, 'LABVIRT_DISK_RESERVE', 2 * 2 ** 30),
    metricsToken: env.LABVIRT_METRICS_TOKEN || undefined,
    sampleIntervalMs: sampleInterval(env.LABVIRT_SAMPLE_INTERVAL),
    monitoringUrl: monitoringUrl(env.LABVIRT_MONITORING_URL),
    probeIntervalMs: probeInterval(env.LABVIRT_PROBE_INTERVAL),
    unhealthyAfterMs: seconds(env, 'LABVIRT_UNHEALTHY_AFTER', 60) * 1000,
    restartShare: share(env, 'LABVIRT_RESTART_SHARE', 0.25),
    versionGraceMs: seconds(env, 'LABVIRT_VERSION_GRACE', 24 * 3600) * 1000,
  }
}
