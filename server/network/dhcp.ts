import type { Repositories } from '#storage'
import type { Lab } from '#schemas/labs'
import type { Terminal } from '#schemas/terminals'
import { seatIp, seatMac, seatVm } from '../labs/seats'

/** A fixed address: the NIC with `mac` always gets `ip`, and is called `name`. */
export interface Reservation {
  mac: string
  ip: string
  name: string
}

/**
 * Every seat 1..max of every lab with an IP base (named by its VM id), then every terminal that
 * has both a MAC and an IP (named by its own name). Labs' seat addresses never overlap (checked
 * when a lab is written), and neither do terminals' IPs.
 */
export function reservations(labs: Pick<Lab, 'name' | 'macBase' | 'ipBase' | 'max'>[], terminals: Pick<Terminal, 'name' | 'ip' | 'mac'>[]): Reservation[] {
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)
  const out: Reservation[] = []
  for (const lab of [...labs].sort(byName)) {
    if (!lab.ipBase) continue
    for (let n = 1; n <= lab.max; n++) out.push({ mac: seatMac(lab, n), ip: seatIp(lab, n)!, name: seatVm(lab.name, n) })
  }
  for (const t of [...terminals].sort(byName)) if (t.ip && t.mac) out.push({ mac: t.mac.toLowerCase(), ip: t.ip, name: t.name })
  return out
}

/** dnsmasq's `--dhcp-hostsfile` format: `mac,ip,name` per line. */
export const dnsmasqHosts = (rs: Reservation[]) => rs.map((r) => `${r.mac},${r.ip},${r.name}\n`).join('')

/** ISC dhcpd host declarations, one per line. */
export const dhcpdHosts = (rs: Reservation[]) =>
  rs.map((r) => `host ${r.name} { hardware ethernet ${r.mac}; fixed-address ${r.ip}; option host-name "${r.name}"; }\n`).join('')

export async function storeReservations(store: Repositories): Promise<Reservation[]> {
  const [labs, terminals] = await Promise.all([store.labs.list(), store.terminals.list()])
  return reservations(labs, terminals)
}

export const DHCP_FORMATS = { dnsmasq: dnsmasqHosts, dhcpd: dhcpdHosts }

/** The reservations as a DHCP server's configuration text. */
export async function dhcpHosts(store: Repositories, format: keyof typeof DHCP_FORMATS): Promise<string> {
  return DHCP_FORMATS[format](await storeReservations(store))
}
