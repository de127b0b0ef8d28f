import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { execa } from 'execa'
import type { Lab } from '#schemas/labs'
import { seatMac } from '../labs/seats'
import { aclAllows, aclDenies, aclLines, BRIDGE_CONF, BRIDGE_HELPER, networkNeed } from './checks'
import type { SetupStep } from './steps'
import { readTracking, trackingSteps, type TrackingState } from './tracking'

/** What setup looks at on this host: links as `ip -j -d link show` reports them, QEMU's bridge files, connection tracking. */
export interface SetupState {
  links: Map<string, { kind?: string; up: boolean; master?: string; tapUser?: string }>
  /** The ACL lines of bridge.conf and the files it includes (none when it does not exist). */
  bridgeConf: string[]
  confDirExists: boolean
  helperSetuid: boolean
  tracking: TrackingState
}

interface IpLink {
  ifname: string
  flags?: string[]
  master?: string
  linkinfo?: { info_kind?: string; info_data?: { type?: string; user?: string } }
}

export async function readSetupState(): Promise<SetupState> {
  const { stdout } = await execa('ip', ['-j', '-d', 'link', 'show'])
  const links = new Map((JSON.parse(stdout) as IpLink[]).map((l) => [l.ifname, {
    kind: l.linkinfo?.info_kind === 'tun' ? l.linkinfo.info_data?.type : l.linkinfo?.info_kind,
    up: !!l.flags?.includes('UP'),
    master: l.master,
    tapUser: l.linkinfo?.info_data?.user,
  }]))
  const acl = await aclLines(BRIDGE_CONF)
  const helper = await stat(BRIDGE_HELPER).catch(() => undefined)
  return {
    links,
    bridgeConf: Array.isArray(acl) ? acl : [],
    confDirExists: await stat(dirname(BRIDGE_CONF)).then(() => true, () => false),
    helperSetuid: !!helper && (helper.mode & 0o4000) !== 0 && helper.uid === 0,
    tracking: await readTracking(),
  }
}

/**
 * The steps that give every tap and bridge lab its network on this host, for the service user
 * `user`; none for what is in place already, so running it twice changes nothing. Bridge labs:
 * the bridge, up, allowed in bridge.conf, and a setuid qemu-bridge-helper unless QEMU runs as root.
 * Tap labs: a persistent tap per seat owned by `user` (seat 0 too: the maintenance VM's), up, on
 * the lab's bridge when it names one. Then what connection tracking needs (tracking.ts).
 */
export function setupPlan(labs: Pick<Lab, 'network' | 'macBase' | 'max'>[], state: SetupState, user: string): SetupStep[] {
  const steps: SetupStep[] = []
  const links = new Map(state.links)
  const bridges = new Set<string>()
  const allowed = new Set<string>()
  let confDir = state.confDirExists
  let helper = state.helperSetuid || user === 'root'
  const ensureBridge = (bridge: string) => {
    if (bridges.has(bridge)) return
    bridges.add(bridge)
    const link = links.get(bridge)
    if (!link) steps.push({ run: ['ip', 'link', 'add', bridge, 'type', 'bridge'] })
    if (!link?.up) steps.push({ run: ['ip', 'link', 'set', bridge, 'up'] })
  }
  for (const lab of labs) {
    const { mode, bridge } = lab.network
    if (mode === 'bridge') {
      const br = networkNeed(lab.network, lab.macBase)
      if (br?.mode !== 'bridge') continue
      ensureBridge(br.bridge)
      // A `deny` the admin wrote stays: `labvirt network check` keeps naming it.
      if (!aclAllows(state.bridgeConf, br.bridge) && !aclDenies(state.bridgeConf, br.bridge) && !allowed.has(br.bridge)) {
        if (!confDir) steps.push({ run: ['mkdir', '-p', dirname(BRIDGE_CONF)] })
        confDir = true
        steps.push({ append: BRIDGE_CONF, line: `allow ${br.bridge}` })
        allowed.add(br.bridge)
      }
      if (!helper) steps.push({ run: ['chmod', 'u+s', BRIDGE_HELPER] })
      helper = true
    } else if (mode === 'tap') {
      if (bridge) ensureBridge(bridge)
      for (let seat = 0; seat <= lab.max; seat++) {
        const need = networkNeed(lab.network, seatMac(lab, seat))
        if (need?.mode !== 'tap') continue
        let link = links.get(need.tap)
        // A tap made for someone else: only root could open it for QEMU, so it is made again.
        if (link && (link.kind !== 'tap' || (user !== 'root' && link.tapUser !== undefined && link.tapUser !== user))) {
          steps.push({ run: ['ip', 'link', 'del', need.tap] })
          link = undefined
        }
        if (!link) steps.push({ run: ['ip', 'tuntap', 'add', 'dev', need.tap, 'mode', 'tap', 'user', user] })
        if (bridge && link?.master !== bridge) steps.push({ run: ['ip', 'link', 'set', need.tap, 'master', bridge] })
        if (!link?.up) steps.push({ run: ['ip', 'link', 'set', need.tap, 'up'] })
        links.set(need.tap, { kind: 'tap', up: true, master: bridge, tapUser: user })
      }
    }
  }
  return [...steps, ...trackingSteps(labs, state.tracking)]
}
