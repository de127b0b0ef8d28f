import { N_ } from '../../schemas/msgid'
import type { Lab, LabNetworkConfig } from '../../schemas/labs'
import { ConflictError, ValidationError } from '../errors'

/** A range of TCP ports, both ends included. */
export interface PortRange {
  from: number
  to: number
}

type Placed = Pick<Lab, 'network' | 'max'> & { id: string }

/** The host ports a user-mode lab forwards to its seats: seat n at hostPort + n - 1, up to `max`. */
export function forwardBlock(lab: Pick<Lab, 'network' | 'max'>): PortRange | undefined {
  if (lab.network.mode !== 'user' || lab.network.hostPort === undefined) return undefined
  return { from: lab.network.hostPort, to: lab.network.hostPort + lab.max - 1 }
}

const overlaps = (a: PortRange, b: PortRange) => a.from <= b.to && b.from <= a.to

/** The start of the lowest run of `size` ports in `range` that no block in `taken` touches. */
export function lowestFreeBlock(range: PortRange, size: number, taken: PortRange[]): number | undefined {
  let start = range.from
  for (const b of [...taken].sort((x, y) => x.from - y.from)) {
    if (b.to < start) continue
    if (b.from > start + size - 1) break
    start = b.to + 1
  }
  return start + size - 1 <= range.to ? start : undefined
}

/**
 * The network a lab is stored with. A user-mode lab needs a block of `max` host ports no other
 * user-mode lab forwards: the one asked for, else the one it had (stable across updates) while it
 * still fits, else the lowest free block in `range` (LABVIRT_FORWARD_PORTS).
 */
export function placeForwards(network: LabNetworkConfig, max: number, previous: LabNetworkConfig | undefined, others: Placed[], range: PortRange): LabNetworkConfig {
  if (network.mode !== 'user') return network
  const taken = others.flatMap((l) => {
    const b = forwardBlock(l)
    return b ? [{ ...b, lab: l.id }] : []
  })
  const clash = (from: number) => taken.find((b) => overlaps(b, { from, to: from + max - 1 }))
  if (network.hostPort !== undefined) {
    const to = network.hostPort + max - 1
    if (to > 65535) {
      throw new ValidationError([{ field: 'network.hostPort', message: N_('The host ports of {n} seats would end past 65535'), params: { n: max } }])
    }
    const other = clash(network.hostPort)
    if (other) throw new ConflictError(N_('The host ports {from}-{to} overlap those of lab "{lab}"'), { from: network.hostPort, to, lab: other.lab })
    return network
  }
  const kept = previous?.mode === 'user' ? previous.hostPort : undefined
  if (kept !== undefined && kept + max - 1 <= 65535 && !clash(kept)) return { ...network, hostPort: kept }
  const start = lowestFreeBlock(range, max, taken)
  if (start === undefined) {
    throw new ConflictError(N_('No {n} free consecutive host ports are left in LABVIRT_FORWARD_PORTS ({from}-{to})'), { n: max, from: range.from, to: range.to })
  }
  return { ...network, hostPort: start }
}
