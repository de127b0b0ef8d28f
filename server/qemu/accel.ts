import { closeSync, constants, openSync } from 'node:fs'
import type { Accel } from './args'

/**
 * Whether KVM can be used: the KVM device opens read-write. Probed once, at start (config.ts):
 * tests force tcg, see QEMU-FACTS (a usable-looking /dev/kvm that hangs guests).
 */
export function kvmUsable(device = '/dev/kvm'): boolean {
  try {
    closeSync(openSync(device, constants.O_RDWR))
    return true
  } catch {
    return false
  }
}

/** `auto` picks KVM when the device is usable; `kvm` and `tcg` are taken as said. */
export const resolveAccel = (wanted: Accel | 'auto', device?: string): Accel => (wanted === 'auto' ? (kvmUsable(device) ? 'kvm' : 'tcg') : wanted)
