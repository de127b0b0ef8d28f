import { defineCommand } from 'citty'
import { N_ } from '#schemas/msgid'
import { guarded } from './guarded'
import { t } from './i18n'

/** A Munin field name (`[a-zA-Z_][a-zA-Z0-9_]*`) for any text, e.g. a lab id with dashes or dots. */
export function muninField(text: string): string {
  const s = text.replace(/[^a-zA-Z0-9_]/g, '_')
  return /^[a-zA-Z_]/.test(s) ? s : `_${s}`
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** The Prometheus text format's samples (HELP and TYPE lines skipped). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

/** A field's value: `U` (Munin's unknown) when LabVirt has none, e.g. the host CPU with sampling off. */
type Value = number | 'U'
interface Field { field: string; label: string; value: Value; min?: number; max?: number }
interface Graph { id: string; title: string; vlabel: string; args?: string; fields: Field[] }

/** The plugin's graphs (multigraph): seats by state, connected seats per lab, host load, CPU and memory. */
export function graphs(samples: Sample[]): Graph[] {
  const pick = (name: string) => samples.filter((s) => s.name === name)
  const states = new Map<string, number>()
  for (const s of pick('labvirt_vms')) if (s.labels.lab) states.set(s.labels.state!, (states.get(s.labels.state!) ?? 0) + s.value)
  const one = (name: string) => pick(name)[0]?.value ?? 0
  const cpu = pick('labvirt_host_cpu_busy_percent')[0]?.value
  return [
    { id: 'labvirt_seats', title: t(N_('LabVirt seats by state')), vlabel: t(N_('seats')),
      fields: [...states].map(([state, value]) => ({ field: muninField(state), label: state, value })) },
    { id: 'labvirt_connected', title: t(N_('LabVirt connected seats')), vlabel: t(N_('seats')),
      fields: pick('labvirt_seats_connected').map((s) => ({ field: muninField(s.labels.lab!), label: s.labels.lab!, value: s.value })) },
    { id: 'labvirt_load', title: t(N_('LabVirt host load')), vlabel: t(N_('load')),
      fields: [{ field: 'load1', label: t(N_('1-minute load')), value: one('labvirt_host_load1') }] },
    { id: 'labvirt_cpu', title: t(N_('LabVirt host CPU')), vlabel: '%', args: '--base 1000 --lower-limit 0 --upper-limit 100 --rigid',
      fields: [{ field: 'busy', label: t(N_('busy')), value: cpu ?? 'U', min: 0, max: 100 }] },
    { id: 'labvirt_memory', title: t(N_('LabVirt host memory')), vlabel: t(N_('bytes')),
      fields: [
        { field: 'total', label: t(N_('total')), value: one('labvirt_host_memory_total_bytes') },
        { field: 'free', label: t(N_('free')), value: one('labvirt_host_memory_free_bytes') },
      ] },
  ]
}

export function renderConfig(gs: Graph[]): string {
  return gs.map((g) => [
    `multigraph ${g.id}`, `graph_title ${g.title}`, `graph_vlabel ${g.vlabel}`, ...(g.args ? [`graph_args ${g.args}`] : []), 'graph_category labvirt',
    ...g.fields.flatMap((f) => [`${f.field}.label ${f.label}`, ...(f.min !== undefined ? [`${f.field}.min ${f.min}`] : []), ...(f.max !== undefined ? [`${f.field}.max ${f.max}`] : [])]),
  ].join('\n')).join('\n') + '\n'
}

export function renderValues(gs: Graph[]): string {
  return gs.map((g) => [`multigraph ${g.id}`, ...g.fields.map((f) => `${f.field}.value ${f.value}`)].join('\n')).join('\n') + '\n'
}

async function readMetrics(env = process.env): Promise<string> {
  const url = (env.LABVIRT_URL || `http://127.0.0.1:${env.PORT || 3000}`).replace(/\/$/, '')
  const token = env.LABVIRT_METRICS_TOKEN
  let res: Response
  try {
    res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  } catch (err) {
    throw new Error(t(N_('Cannot reach LabVirt at {url}: {error}'), { url, error: (err as Error).message }))
  }
  if (!res.ok) throw new Error(t(N_('LabVirt answered {status} for /metrics'), { status: res.status }))
  return res.text()
}

/** `labvirt munin [config|autoconf|fetch]`: a Munin plugin reading GET /metrics. */
export const munin = defineCommand({
  meta: { name: 'munin', description: t(N_('Munin plugin: autoconf, config or fetch (the default)')) },
  args: { mode: { type: 'positional', required: false, description: 'autoconf | config | fetch' } },
  run: guarded(async ({ args }) => {
    const mode = args.mode ?? 'fetch'
    if (mode === 'autoconf') {
      // Munin wants exit 0 either way, the answer on stdout.
      try {
        await readMetrics()
        console.log('yes')
      } catch (err) {
        console.log(`no (${(err as Error).message})`)
      }
      return
    }
    if (mode !== 'config' && mode !== 'fetch') throw new Error(t(N_('Unknown mode {mode}: autoconf, config or fetch'), { mode }))
    const gs = graphs(parseSamples(await readMetrics()))
    process.stdout.write(mode === 'config' ? renderConfig(gs) : renderValues(gs))
  }),
})
