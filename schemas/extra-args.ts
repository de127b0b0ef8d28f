import { N_ } from './msgid'

/**
 * The QEMU options a profile's extra arguments may carry: an allowlist, each value checked on its
 * own. Whatever names a file, a socket, a chardev, a drive or a netdev, or rewrites other options
 * (`-set`, `-global`, `-readconfig`), is left out on purpose: what admins need beyond this has a
 * profile field of its own (machine, cpuModel, rtcLocalTime, usbTablet, sound, display, smbios,
 * firmware).
 */

/** Devices with no property that reaches the host: models only, no `,key=value`. */
export const EXTRA_DEVICE_MODELS = [
  'usb-kbd', 'usb-mouse', 'usb-tablet', 'virtio-rng-pci', 'virtio-balloon-pci', 'virtio-keyboard-pci',
  'virtio-tablet-pci', 'pvpanic',
] as const

interface OptionRule {
  /** Checks the option's value; options without one are flags. */
  value?: { test: (value: string) => boolean; message: string }
}

const EXTRA_OPTIONS: Record<string, OptionRule> = {
  '-usb': {},
  '-no-hpet': {},
  // The VNC keyboard layout, for guests whose keymap differs from the viewer's.
  '-k': { value: { test: (s) => /^[a-z]{2}(?:-[a-z]{2})?$/.test(s), message: N_('A keyboard layout like es or en-us') } },
  '-device': {
    value: {
      test: (s) => (EXTRA_DEVICE_MODELS as readonly string[]).includes(s),
      message: N_('One of the device models usb-kbd, usb-mouse, usb-tablet, virtio-rng-pci, virtio-balloon-pci, virtio-keyboard-pci, virtio-tablet-pci, pvpanic, without properties'),
    },
  },
}

export interface ExtraArgIssue {
  index: number
  /** msgid */
  message: string
}

/** Why a list of extra arguments is refused, one issue per bad element; empty when it passes. */
export function extraArgIssues(args: readonly unknown[]): ExtraArgIssue[] {
  const issues: ExtraArgIssue[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    const rule = typeof arg === 'string' && Object.hasOwn(EXTRA_OPTIONS, arg) ? EXTRA_OPTIONS[arg]! : undefined
    if (!rule) {
      issues.push({ index: i, message: N_('Extra arguments allow only -usb, -no-hpet, -k <layout> and -device <model>; the profile has fields for the rest') })
      continue
    }
    if (!rule.value) continue
    const value = args[++i]
    if (value === undefined) issues.push({ index: i - 1, message: N_('This option needs a value after it') })
    else if (typeof value !== 'string' || !rule.value.test(value)) issues.push({ index: i, message: rule.value.message })
  }
  return issues
}
