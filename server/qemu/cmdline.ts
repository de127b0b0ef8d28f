import { IFNAME_PATTERN } from '#schemas/common'

/** A disk a running QEMU has open, read back from its command line. */
export interface OpenDrive {
  file: string
  /** Opened for writing: neither `snapshot=on` nor `readonly=on`. */
  writable: boolean
}

/** Splits a QEMU option string on single commas; `,,` is a literal comma. */
export function splitOptions(value: string): string[] {
  const parts: string[] = []
  let cur = ''
  for (let i = 0; i < value.length; i++) {
    if (value[i] === ',') {
      if (value[i + 1] === ',') {
        cur += ','
        i++
      } else {
        parts.push(cur)
        cur = ''
      }
    } else cur += value[i]
  }
  parts.push(cur)
  return parts
}

function optionsOf(value: string) {
  return new Map(splitOptions(value).map((kv) => {
    const eq = kv.indexOf('=')
    return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)]
  }))
}

/** The `-drive` files of a QEMU argv and whether each is writable: what its image locks cover. */
export function drivesOf(argv: string[]): OpenDrive[] {
  const drives: OpenDrive[] = []
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-drive') continue
    const opts = optionsOf(argv[i + 1]!)
    const file = opts.get('file')
    if (!file) continue
    drives.push({ file, writable: opts.get('snapshot') !== 'on' && opts.get('readonly') !== 'on' })
  }
  return drives
}

/**
 * The tap interface of a `-netdev tap,ifname=...` (tap mode), whose counters the host keeps; none
 * otherwise. Only a valid interface name: it becomes a path under /sys/class/net.
 */
export function tapOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-netdev' || !argv[i + 1]!.startsWith('tap,')) continue
    const ifname = optionsOf(argv[i + 1]!).get('ifname')
    if (ifname && IFNAME_PATTERN.test(ifname)) return ifname
  }
  return undefined
}
