import { DEFAULT_SEAT_PORT, type Lab } from '#schemas/labs'
import { seatIp } from '../labs/seats'

/**
 * Where a terminal connects to reach seat `seat` of `lab`. Bridge and tap seats are on the lab
 * network at their reserved IP (none without an IP base); user-mode seats are reached through
 * LabVirt's host, at the seat's forwarded port, by the name the terminal used for LabVirt.
 */
export function seatEndpoint(lab: Pick<Lab, 'network' | 'ipBase'>, seat: number, requestHost: string): { host: string; port: number } | undefined {
  if (lab.network.mode === 'user') {
    if (lab.network.hostPort === undefined) return undefined
    return { host: requestHost, port: lab.network.hostPort + seat - 1 }
  }
  const host = seatIp(lab, seat)
  return host ? { host, port: lab.network.port ?? DEFAULT_SEAT_PORT } : undefined
}

/**
 * The persistent tap of the seat with this MAC: `lv` and the MAC's hex digits (14 characters,
 * within IFNAMSIZ). Seat MACs are unique across labs, so tap names are too.
 */
export function tapName(mac: string): string {
  return `lv${mac.replaceAll(':', '').toLowerCase()}`
}
