import { readFile } from 'node:fs/promises'
import { execa } from 'execa'

/** An established TCP flow in its original direction: who opened it (src) to what (dst). */
export interface Flow {
  src: string
  sport: number
  dst: string
  dport: number
}

// Both formats put the original tuple first: `/proc/net/nf_conntrack` prefixes each line with the
// family (`ipv4     2 tcp      6 431998 ESTABLISHED src=...`), `conntrack -L` starts at `tcp`.
const FLOW = /(?:^|\s)tcp\s+6\s+\d+\s+(\S+)\s+src=(\S+)\s+dst=(\S+)\s+sport=(\d+)\s+dport=(\d+)/

/** The established TCP flows of a connection tracking listing (either format). */
export function parseConntrack(text: string): Flow[] {
  const flows: Flow[] = []
  for (const line of text.split('\n')) {
    const m = FLOW.exec(line)
    if (m?.[1] !== 'ESTABLISHED') continue
    flows.push({ src: m[2]!, dst: m[3]!, sport: Number(m[4]), dport: Number(m[5]) })
  }
  return flows
}

export const CONNTRACK_PROC = '/proc/net/nf_conntrack'

/** Where the flows were read: the kernel's proc file, or the `conntrack` tool (netlink). */
export type FlowSource = 'proc' | 'tool'

/**
 * Reads this network namespace's connection tracking table. The proc file is cheapest but is root's
 * alone (mode 0440) and missing on kernels without CONFIG_NF_CONNTRACK_PROCFS; `conntrack -L`
 * works for any user with CAP_NET_ADMIN (e.g. systemd's AmbientCapabilities=CAP_NET_ADMIN).
 * Undefined when neither can be read here: the caller then has no tracking on this host.
 */
export async function readFlows(prefer?: FlowSource, procFile = CONNTRACK_PROC): Promise<{ source: FlowSource; flows: Flow[] } | undefined> {
  const order: FlowSource[] = prefer === 'tool' ? ['tool', 'proc'] : ['proc', 'tool']
  for (const source of order) {
    const text = source === 'proc' ? await readFile(procFile, 'utf8').catch(() => undefined) : await listWithTool()
    if (text !== undefined) return { source, flows: parseConntrack(text) }
  }
  return undefined
}

async function listWithTool(): Promise<string | undefined> {
  // Not found, no permission, no conntrack support: all mean "not usable", said by the exit code.
  const r = await execa('conntrack', ['-L', '-p', 'tcp'], { reject: false, timeout: 10_000, stdin: 'ignore' })
  return r.exitCode === 0 ? r.stdout : undefined
}
