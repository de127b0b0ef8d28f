import { readFile } from 'node:fs/promises'
import { execa } from 'execa'
import { N_ } from '#schemas/msgid'
import type { Lab } from '#schemas/labs'
import { msg, type Msg } from '../errors'
import type { SetupStep } from './steps'

// Who is connected to a tap or bridge seat comes from the host's connection tracking
// (conntrack.ts), which records nothing until some nftables rule uses `ct`, and sees a flow between
// two ports of one bridge (a terminal and a seat's tap) only when br_netfilter hands bridged IPv4
// to the inet hooks: net.bridge.bridge-nf-call-iptables=1. A `bridge` family table cannot use `ct`
// without nf_conntrack_bridge, which kernels often lack: hence an inet table.

/** By path: under npm, PATH starts with node_modules/.bin, where @vercel/nft has an `nft` too. */
export const NFT = '/usr/sbin/nft'
export const BRIDGE_NF_CALL = '/proc/sys/net/bridge/bridge-nf-call-iptables'
// The chain accepts everything: its `ct` rule only turns tracking on, and counts.
const TABLE = 'inet labvirt { chain track { type filter hook forward priority 0; policy accept; ct state established counter; }; }'

export interface TrackingState {
  /** Whether the table inet labvirt exists; undefined when this user may not list it. */
  table: boolean | undefined
  /** Whether bridge-nf-call-iptables is on; undefined when br_netfilter is not loaded (no such file). */
  bridgedFlows: boolean | undefined
}

export async function readTracking(): Promise<TrackingState> {
  // C locale: the error is told apart by its text.
  const nft = await execa(NFT, ['list', 'table', 'inet', 'labvirt'], { reject: false, env: { LC_ALL: 'C' } })
  return {
    table: /Operation not permitted/.test(nft.stderr) ? undefined : nft.exitCode === 0,
    bridgedFlows: await readFile(BRIDGE_NF_CALL, 'utf8').then((s) => s.trim() !== '0', () => undefined),
  }
}

type Labs = Pick<Lab, 'network'>[]
/** Any lab whose seats' flows the host tracks: tap and bridge labs. */
export const needsTracking = (labs: Labs) => labs.some((l) => l.network.mode !== 'user')
/** Any lab whose terminals and seats may meet on a bridge. */
const bridged = (labs: Labs) => labs.some((l) => l.network.mode === 'bridge' || (l.network.mode === 'tap' && l.network.bridge))

/** What `labvirt network setup` does for tracking: the table, br_netfilter, the sysctl. */
export function trackingSteps(labs: Labs, state: TrackingState): SetupStep[] {
  const steps: SetupStep[] = []
  if (!needsTracking(labs)) return steps
  // Created in one command, so one transaction: never a table without its rule. Not known (a
  // --dry-run by a user who may not list tables): listed, as root may have to run it.
  if (state.table !== true) steps.push({ run: [NFT, `add table ${TABLE}`] })
  if (bridged(labs)) {
    if (state.bridgedFlows === undefined) steps.push({ run: ['modprobe', 'br_netfilter'] })
    if (!state.bridgedFlows) steps.push({ write: BRIDGE_NF_CALL, line: '1' })
  }
  return steps
}

/** What `labvirt network check` says is missing for tracking: seats still start, but nobody shows as connected. */
export function trackingGaps(labs: Labs, state: TrackingState): Msg[] {
  const gaps: Msg[] = []
  if (!needsTracking(labs)) return gaps
  if (state.table === false) gaps.push(msg(N_('Connection tracking may be off on this host: the nftables table inet labvirt, whose ct rule turns it on, is missing')))
  if (bridged(labs)) {
    if (state.bridgedFlows === undefined) gaps.push(msg(N_('Flows across a bridge are not tracked: br_netfilter is not loaded')))
    else if (!state.bridgedFlows) gaps.push(msg(N_('Flows across a bridge are not tracked: net.bridge.bridge-nf-call-iptables is 0')))
  }
  return gaps
}
