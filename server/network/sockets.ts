import { endianness } from 'node:os'
import { readProcFile } from '../proc'

/** An established TCP socket of this host: its local port and the peer's address. */
export interface Socket {
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
}

const LITTLE_ENDIAN = endianness() === 'LE'

// The kernel prints each 32-bit word of an address as a host-order number: on a little-endian
// host `0100007F` is 127.0.0.1. IPv6 is four such words.
function words(hex: string): number[] {
  const bytes: number[] = []
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8).match(/../g)!.map((b) => parseInt(b, 16))
    bytes.push(...(LITTLE_ENDIAN ? word.reverse() : word))
  }
  return bytes
}

/** An address of /proc/net/tcp{,6} as text; IPv4-mapped IPv6 (a dual-stack listener's peer) as IPv4. */
export function procAddress(hex: string): string {
  const b = words(hex)
  if (b.length === 4) return b.join('.')
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255
  if (mapped) return b.slice(12).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16))
  // The usual short form: the longest run of zero groups becomes `::`.
  const full = groups.join(':')
  const runs = full.match(/(?:^|:)0(?::0)+(?::|$)/g)
  if (!runs) return full
  const longest = runs.reduce((a, r) => (r.length > a.length ? r : a))
  return full.replace(longest, '::')
}

/**
 * A line of /proc/net/tcp{,6} in state 01 (established): local and remote address and port. One
 * scan of the whole text: on a busy host (a probe's closed connections wait in TIME_WAIT for a
 * minute) most lines are in another state, and splitting each into its 17 fields cost the
 * connection watcher more than all the rest of its poll.
 */
const ESTABLISHED_LINE = /^\s*\d+:\s+([0-9A-F]+):([0-9A-F]+)\s+([0-9A-F]+):([0-9A-F]+)\s+01\s/gm

/** The established sockets of a /proc/net/tcp or /proc/net/tcp6 listing. */
export function parseProcTcp(text: string): Socket[] {
  const sockets: Socket[] = []
  for (const [, la, lp, ra, rp] of text.matchAll(ESTABLISHED_LINE)) {
    sockets.push({ localAddress: procAddress(la!), localPort: parseInt(lp!, 16), remoteAddress: procAddress(ra!), remotePort: parseInt(rp!, 16) })
  }
  return sockets
}

/**
 * The established TCP sockets of this network namespace (IPv4 and IPv6), readable by any user.
 * Undefined when /proc/net/tcp cannot be read at all.
 */
export async function readSockets(dir = '/proc/net'): Promise<Socket[] | undefined> {
  const [v4, v6] = await Promise.all(['tcp', 'tcp6'].map((f) => readProcFile(`${dir}/${f}`).catch(() => undefined)))
  if (v4 === undefined && v6 === undefined) return undefined
  return [...parseProcTcp(v4 ?? ''), ...parseProcTcp(v6 ?? '')]
}
