import { language } from './i18n'

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const

/** A size in bytes in binary units ("1.5 GB"), in the chosen language. */
export function formatBytes(bytes: number) {
  let n = bytes
  let u = 0
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024
    u++
  }
  return new Intl.NumberFormat(language.value, { style: 'unit', unit: UNITS[u], unitDisplay: 'short', maximumFractionDigits: n < 10 && u > 0 ? 1 : 0 }).format(n)
}
