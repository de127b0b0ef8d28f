import { formatNumber } from './i18n'

// Binary units, as qemu-img and the image form (MiB) count; the symbols are the same in every language.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** A size in bytes as "1.5 GiB", the number in the chosen language. */
export function formatBytes(bytes: number) {
  let n = bytes
  let u = 0
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024
    u++
  }
  return `${formatNumber(Math.round(n * 10) / 10)} ${UNITS[u]}`
}
