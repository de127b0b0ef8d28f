import { readFile, readlink, stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { N_ } from '#schemas/msgid'
import type { LabNetworkConfig } from '#schemas/labs'
import { msg, type Msg } from '../errors'
import { tapName } from './endpoint'

/** What a VM's NIC needs from the host before QEMU can open it. */
export type NetworkNeed =
  | { mode: 'tap'; tap: string; bridge?: string }
  | { mode: 'bridge'; bridge: string }

/** Where the host keeps what QEMU's bridge mode reads; tests point these elsewhere. */
export interface HostNetwork {
  sysNet: string
  bridgeConf: string
  bridgeHelper: string
  uid: number
  gids: number[]
}

export const BRIDGE_CONF = '/etc/qemu/bridge.conf'
export const BRIDGE_HELPER = '/usr/lib/qemu/qemu-bridge-helper'

export function thisHost(): HostNetwork {
  return { sysNet: '/sys/class/net', bridgeConf: BRIDGE_CONF, bridgeHelper: BRIDGE_HELPER, uid: process.getuid?.() ?? 0, gids: process.getgroups?.() ?? [] }
}

/**
 * What the NIC with this MAC on a lab's network needs. User mode needs nothing: QEMU does it all
 * in its own process.
 */
export function networkNeed(network: LabNetworkConfig, mac: string): NetworkNeed | undefined {
  const { mode, bridge } = network
  if (mode === 'tap') return { mode, tap: tapName(mac), bridge }
  if (mode === 'bridge') return { mode, bridge: bridge ?? 'br0' }
  return undefined
}

const read = (path: string) => readFile(path, 'utf8').then((s) => s.trim(), () => undefined)
const exists = (path: string) => stat(path).then(() => true, () => false)

/**
 * The lines of qemu-bridge-helper's ACL file and those it includes. Unreadable (not the service
 * user's to read): undefined, as nothing can be said about it.
 */
export async function aclLines(file: string, depth = 0): Promise<string[] | undefined | 'missing'> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : undefined
  }
  const lines: string[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    const inc = /^include\s+(\S+)$/.exec(line)
    if (inc && depth < 8) {
      const more = await aclLines(resolve(dirname(file), inc[1]!), depth + 1)
      if (Array.isArray(more)) lines.push(...more)
    } else if (line) lines.push(line)
  }
  return lines
}

const aclMatches = (lines: string[], verb: 'allow' | 'deny', bridge: string) =>
  lines.some((l) => {
    const [v, iface] = l.split(/\s+/)
    return v === verb && (iface === 'all' || iface === bridge)
  })

/** Whether the helper lets `bridge` through: deny rules win over allow rules, as in qemu-bridge-helper. */
export const aclAllows = (lines: string[], bridge: string) => !aclMatches(lines, 'deny', bridge) && aclMatches(lines, 'allow', bridge)
/** An admin's explicit `deny`: not for setup to undo. */
export const aclDenies = (lines: string[], bridge: string) => aclMatches(lines, 'deny', bridge)

/** What is missing on this host for `need`, each a message naming it; empty when QEMU can go. */
export async function networkGaps(need: NetworkNeed, host: HostNetwork = thisHost()): Promise<Msg[]> {
  const gaps: Msg[] = []
  const dev = (name: string) => `${host.sysNet}/${name}`
  const bridgeMissing = async (bridge: string) => !(await exists(`${dev(bridge)}/bridge`))
  if (need.mode === 'tap') {
    const { tap, bridge } = need
    if (!(await exists(dev(tap)))) return [msg(N_('the tap {tap} does not exist'), { tap })]
    const flags = Number(await read(`${dev(tap)}/tun_flags`))
    // IFF_TAP: a tun device (layer 3) would not carry the guest's Ethernet frames.
    if (!(flags & 0x0002)) return [msg(N_('{tap} is not a tap device'), { tap })]
    const owner = Number(await read(`${dev(tap)}/owner`))
    const group = Number(await read(`${dev(tap)}/group`))
    if (host.uid !== 0 && owner >= 0 && owner !== host.uid) gaps.push(msg(N_('the tap {tap} belongs to user {owner}, not to user {uid} that runs LabVirt'), { tap, owner, uid: host.uid }))
    if (host.uid !== 0 && group >= 0 && !host.gids.includes(group)) gaps.push(msg(N_('the tap {tap} belongs to group {group}, which the user that runs LabVirt is not in'), { tap, group }))
    if (bridge) {
      if (await bridgeMissing(bridge)) gaps.push(msg(N_('the bridge {bridge} does not exist'), { bridge }))
      else if (basename((await readlink(`${dev(tap)}/master`).catch(() => '')) || '') !== bridge) gaps.push(msg(N_('the tap {tap} is not on the bridge {bridge}'), { tap, bridge }))
    }
    return gaps
  }
  const { bridge } = need
  if (await bridgeMissing(bridge)) gaps.push(msg(N_('the bridge {bridge} does not exist'), { bridge }))
  const acl = await aclLines(host.bridgeConf)
  if (acl === 'missing' || (acl && !aclAllows(acl, bridge))) gaps.push(msg(N_('{file} does not allow the bridge {bridge}'), { file: host.bridgeConf, bridge }))
  if (host.uid !== 0) {
    const helper = await stat(host.bridgeHelper).catch(() => undefined)
    if (!helper) gaps.push(msg(N_('{helper} is not installed'), { helper: host.bridgeHelper }))
    else if (!(helper.mode & 0o4000) || helper.uid !== 0) gaps.push(msg(N_('{helper} is not setuid root'), { helper: host.bridgeHelper }))
  }
  return gaps
}

/** The message a VM gets when its network is not there: what is missing, and who fixes it. */
export const networkNotReady = (gaps: Msg[]): Msg =>
  msg(N_('Network not ready: {gaps}. Run "labvirt network setup" as root'), { gaps })
