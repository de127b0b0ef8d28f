// Where a server's CPU went: the functions of a V8 .cpuprofile (self and inclusive time), over its
// last --last seconds only (a steady state, not the start-up before it). Make the profile with
//   BENCH_SERVER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/run.mjs resources
//   node bench/run.mjs diag-cpuprofile /tmp/prof/CPU.*.cpuprofile [--last 45] [--top 40]
// Inclusive time follows the synchronous stack only: work resumed after an await counts under
// processTicksAndRejections, not under the function that awaited.
import { readFileSync } from 'node:fs'
import { option } from './lib'

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const file = process.argv.slice(2).find((a) => !a.startsWith('--') && a.endsWith('.cpuprofile'))
if (!file) throw new Error('usage: node bench/run.mjs diag-cpuprofile <file.cpuprofile> [--last 45] [--top 40]')
const LAST_S = option('last', 45)
const TOP = option('top', 40)

const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
const nodes = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const name = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`

const from = p.endTime - LAST_S * 1e6
const self = new Map<string, number>()
const inclusive = new Map<string, number>()
let busy = 0
let t = p.startTime
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i]!
  const dt = p.timeDeltas[i + 1] ?? 0
  const n = nodes.get(p.samples[i]!)!
  if (t < from || n.callFrame.functionName === '(idle)') continue
  busy += dt
  self.set(name(n), (self.get(name(n)) ?? 0) + dt)
  // A recursive function counts once per sample.
  const seen = new Set<string>()
  for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
    const k = name(nodes.get(id)!)
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + dt)
    seen.add(k)
  }
}

console.log(`main thread busy ${(busy / 1e3).toFixed(0)} ms in the last ${LAST_S} s: ${(busy / 1e4 / LAST_S).toFixed(2)} % of one core`)
for (const [title, m] of [['self', self], ['inclusive', inclusive]] as const) {
  console.log(`--- ${title}`)
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${(v / 1e3).toFixed(0).padStart(7)} ms ${((100 * v) / busy).toFixed(1).padStart(5)} %  ${k}`)
}
