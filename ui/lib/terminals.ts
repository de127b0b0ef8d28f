/** A terminal as the API stores it. */
export interface Terminal {
  name: string
  description?: string
  ip?: string
  mac?: string
  lab: string
  client?: string
  seat?: number
  params?: Record<string, string>
}

/** A terminal that asked for a seat and is not known yet. */
export interface Pending { id: string; ip: string; mac?: string; firstSeen: string; lastSeen: string }

/** `KEY=value` lines as a record (a value may hold `=`, spaces, commas); blank lines skipped. */
export function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const at = line.indexOf('=')
    out[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? '' : line.slice(at + 1)
  }
  return out
}

export const formatParams = (params: Record<string, string> = {}) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')

/** A free name for a new terminal of `lab`: `<lab>-pc01`, `<lab>-pc02`, ... (names are at most 24 characters). */
export function suggestName(lab: string, taken: Set<string>): string {
  const base = lab.slice(0, 19).replace(/-+$/, '')
  for (let n = 1; ; n++) {
    const name = `${base}-pc${String(n).padStart(2, '0')}`
    if (!taken.has(name)) return name
  }
}
