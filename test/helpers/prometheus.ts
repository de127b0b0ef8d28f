// The Prometheus text format as a scraper reads it, strictly: a line that is not HELP, TYPE or a sample fails.

export interface Sample { name: string; labels: Record<string, string>; value: number }

/** The text format, line by line: HELP and TYPE comments, then `name{labels} value` samples. */
export function parseMetrics(text: string) {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta) {
      if (meta[1] === 'TYPE') types.set(meta[2]!, meta[3]!)
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!
    const value = Number(m[3])
    // Prometheus reads NaN in any case (Go's ParseFloat); prom-client writes `Nan`.
    if (Number.isNaN(value) && !/^nan$/i.test(m[3]!)) throw new Error(`not a number: ${line}`)
    samples.push({ name: m[1]!, labels, value })
  }
  return { types, samples }
}
