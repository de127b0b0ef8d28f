import { type HostFigures, RANGES } from '#schemas/resources'
import { formatBytes } from './bytes'
import { formatNumber } from './i18n'

/** GET /api/hosts and /api/vms/:id/stats: the last hour as sampled, or the day in minute averages. */
export { RANGES }
export type Range = (typeof RANGES)[number]

export type Series<K extends string> = Record<K, (number | null)[]> & { t: number[] }

export interface Host {
  id: string
  local: boolean
  stale: boolean
  intervalMs: number
  monitoringUrl?: string
  figures: HostFigures | null
  history: Series<'cpu' | 'load' | 'memoryUsed' | 'diskFree' | 'netRx' | 'netTx'> | null
}

export interface VmStats {
  id: string
  host: string
  sampled: boolean
  intervalMs: number
  series: Series<'cpu' | 'rss' | 'diskRead' | 'diskWrite' | 'netRx' | 'netTx'>
}

export const percent = (n: number) => `${formatNumber(Math.round(n * 10) / 10)} %`
export const bytesPerSecond = (n: number) => `${formatBytes(n)}/s`
export const plain = (n: number) => formatNumber(Math.round(n * 100) / 100)

/** Reloads every few seconds (at least the sampling interval) while the page is open. */
export const refreshMs = (intervalMs: number | undefined) => Math.max(5000, intervalMs ?? 0)
