import type { Lab } from '#schemas/labs'

// Apart from the lab domain so the network code and the CLI use them without the store.

/** The VM id of seat n: `<lab>-<n>`. */
export const seatVm = (lab: string, seat: number) => `${lab}-${seat}`

/** The MAC of seat n: the lab's base with n as last octet (the seed's rule). */
export function seatMac(lab: Pick<Lab, 'macBase'>, seat: number): string {
  return `${lab.macBase.slice(0, -2)}${seat.toString(16).padStart(2, '0')}`
}

/** The IP of seat n: the lab's base plus n. */
export function seatIp(lab: Pick<Lab, 'ipBase'>, seat: number): string | undefined {
  if (!lab.ipBase) return undefined
  const parts = lab.ipBase.split('.').map(Number)
  parts[3]! += seat
  return parts.join('.')
}
