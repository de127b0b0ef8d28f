import { N_ } from './msgid'
import * as v from 'valibot'
import { Description, IFNAME_PATTERN, Ipv4, Mac, Name, updateSchema } from './common'

export const NETWORK_MODES = ['user', 'bridge', 'tap'] as const
export const MAX_SEATS = 250

const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))

const IfName = v.pipe(v.string(), v.regex(IFNAME_PATTERN, N_('Must be a network interface name (at most 15 characters)')))

export const LabNetwork = v.strictObject({
  mode: v.picklist(NETWORK_MODES),
  /** The host bridge: QEMU joins it (bridge mode), or the seats' persistent taps are enslaved to it (tap mode). */
  bridge: v.optional(IfName),
  /** The TCP port the seats serve their desktop on (RDP 3389, VNC 5900): what terminals connect to. */
  port: v.optional(Port),
  /** User mode: seat n is forwarded from host port hostPort + n - 1. Allocated when the lab is created if unset. */
  hostPort: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(65535))),
})

const labEntries = {
  name: Name,
  description: Description,
  /** How many seats run. */
  size: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_SEATS)),
  /** The most seats this lab may grow to: MACs and IPs are reserved up to it. Defaults to size. */
  max: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SEATS))),
  /** Allowed profiles in order; the first active one is the default. */
  profiles: v.pipe(v.array(Name), v.minLength(1), v.maxLength(32)),
  macBase: v.optional(v.pipe(Mac, v.check((m) => m.endsWith(':00'), N_('The last octet of a MAC base must be 00')))),
  ipBase: v.optional(Ipv4),
  network: v.optional(LabNetwork, { mode: 'user' }),
  client: v.optional(Name),
}

export const LabCreate = v.pipe(
  v.strictObject(labEntries),
  v.forward(
    v.check((l) => l.max === undefined || l.size <= l.max, N_('The size cannot exceed the maximum')),
    ['size'],
  ),
)
export const LabUpdate = v.pipe(
  updateSchema(labEntries),
  v.forward(
    v.check((l) => l.max === undefined || l.size <= l.max, N_('The size cannot exceed the maximum')),
    ['size'],
  ),
)

export type LabInput = v.InferOutput<typeof LabCreate>
/** Records stored before `port` existed have none: read it with `?? DEFAULT_SEAT_PORT`. */
export type LabNetworkConfig = v.InferInput<typeof LabNetwork>
export const DEFAULT_SEAT_PORT = 3389
export interface Lab extends Omit<LabInput, 'max' | 'macBase' | 'network'> {
  network: LabNetworkConfig
  max: number
  macBase: string
}
