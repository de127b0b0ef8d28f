import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'

// Network namespaces for tests that need a real lab network: bridges, veth pairs, addresses,
// and processes run inside a namespace. Everything a NetWorld makes is named
// `lvt<time><rand>-...` (the time in base 36 seconds), so a run killed before its cleanup leaves
// names that the next run's sweep recognises and removes once they are old.
//
// Connection tracking of bridged flows, measured on this kernel (6.18, everything built in); what
// `labvirt network setup` does about it (server/network/tracking.ts) rests on these:
// - nothing is tracked in a namespace until some nftables rule there uses `ct`;
// - an `inet` table with a `ct` rule makes conntrack see flows between two ports of one bridge
//   (a terminal's veth and a seat's tap), whichever hook the chain is on (forward or input),
//   because br_netfilter hands bridged IPv4 to the inet hooks: it needs
//   net.bridge.bridge-nf-call-iptables=1 (the default in a fresh namespace here; on a kernel with
//   br_netfilter as a module, `modprobe br_netfilter` first). With it set to 0 new flows go
//   untracked; deleting the rule stops tracking new flows too;
// - a closed flow stays listed for 2 minutes as TIME_WAIT: only ESTABLISHED means connected;
// - a `bridge` family table cannot use `ct` here ("Protocol error"): that needs nf_conntrack_bridge
//   (CONFIG_NF_CONNTRACK_BRIDGE), which this kernel lacks.

const PREFIX = 'lvt'
const NAME = /^lvt([0-9a-z]{6})[0-9a-f]{2}(?:-|r$)/
/** Leftovers of a run are swept once this old: far longer than any test file runs. */
const SWEEP_AGE_MS = 30 * 60_000

/** What exec() takes: execa's options that keep its output text. */
export interface ExecOptions {
  input?: string
  reject?: boolean
  timeout?: number
  env?: Record<string, string>
  cwd?: string
}

const ip = (args: string[], opts: ExecOptions = {}) => execa('ip', args, opts)

export interface VethEnd {
  /** The namespace, or undefined for the test's own (root) namespace. */
  ns?: string
  name: string
  /** An address with prefix length, e.g. `198.18.7.200/24`. */
  cidr?: string
  /** A bridge in the same namespace to enslave this end to. */
  master?: string
}

/**
 * Fails loudly, naming what is missing, unless this process is root and every command exists:
 * tests that need them must not be skipped on a machine set up by scripts/setup.sh.
 */
export async function requireTools(commands: string[]): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('network namespace tests need root')
  const missing: string[] = []
  for (const c of commands) if ((await execa('sh', ['-c', 'command -v "$1"', 'sh', c], { reject: false })).exitCode !== 0) missing.push(c)
  if (missing.length) throw new Error(`missing commands: ${missing.join(', ')} (run scripts/setup.sh)`)
}

/** Namespaces, links and processes of one test file; `dispose()` removes all of them. */
export class NetWorld {
  /** `lvt` + 6 base-36 digits of the creation time + 2 hex: 11 characters, so `<id>r` is an interface name. */
  readonly id = `${PREFIX}${Math.floor(Date.now() / 1000).toString(36).padStart(6, '0')}${randomBytes(1).toString('hex')}`
  private readonly namespaces: string[] = []
  private readonly procs: ChildProcess[] = []

  /** A new namespace `<id>-<role>` with its loopback up. */
  async ns(role: string): Promise<string> {
    await sweep()
    const name = `${this.id}-${role}`
    await ip(['netns', 'add', name])
    this.namespaces.push(name)
    await ip(['-n', name, 'link', 'set', 'lo', 'up'])
    return name
  }

  /** A bridge, up, with an address if given. */
  async bridge(ns: string, name: string, cidr?: string): Promise<void> {
    await ip(['-n', ns, 'link', 'add', name, 'type', 'bridge'])
    if (cidr) await ip(['-n', ns, 'addr', 'add', cidr, 'dev', name])
    await ip(['-n', ns, 'link', 'set', name, 'up'])
  }

  /** A veth pair between two namespaces (or one and the root namespace), both ends up. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    const where = (e: VethEnd) => (e.ns ? ['netns', e.ns] : [])
    await ip(['link', 'add', a.name, ...where(a), 'type', 'veth', 'peer', 'name', b.name, ...where(b)])
    for (const e of [a, b]) {
      const n = e.ns ? ['-n', e.ns] : []
      if (e.cidr) await ip([...n, 'addr', 'add', e.cidr, 'dev', e.name])
      if (e.master) await ip([...n, 'link', 'set', e.name, 'master', e.master])
      await ip([...n, 'link', 'set', e.name, 'up'])
    }
  }

  /**
   * A point-to-point link from the root namespace into `ns`, so the test process can reach servers
   * listening there: a /30 of 198.19.0.0/16 (RFC 2544 test addresses) that no root interface uses.
   * The root end is `<id>r`; it goes away with the namespace.
   */
  async uplink(ns: string): Promise<{ root: string; inside: string }> {
    const used = (await ip(['-o', '-4', 'addr', 'show'])).stdout
    for (let i = 0; i < 100; i++) {
      const n = randomBytes(2).readUInt16BE(0) & 0xfffc
      const net = `198.19.${n >> 8}`
      const root = `${net}.${(n & 255) + 1}`
      const inside = `${net}.${(n & 255) + 2}`
      if (used.includes(` ${root}/`) || used.includes(` ${inside}/`)) continue
      await this.veth({ name: `${this.id}r`, cidr: `${root}/30` }, { ns, name: 'up0', cidr: `${inside}/30` })
      return { root, inside }
    }
    throw new Error('no free /30 in 198.19.0.0/16 for an uplink')
  }

  /** Runs argv inside `ns` to completion (rejects on a non-zero exit unless `reject: false`). */
  exec(ns: string, argv: string[], opts: ExecOptions = {}) {
    return execa('ip', ['netns', 'exec', ns, ...argv], opts)
  }

  /** Starts argv inside `ns` (`ip netns exec` execs it: the child's pid is the program's); killed by dispose(). */
  spawn(ns: string, argv: string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const proc = spawn('ip', ['netns', 'exec', ns, ...argv], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    this.procs.push(proc)
    return proc
  }

  /** Kills what runs in the namespaces (ours and what they started, like daemonized QEMUs) and deletes them. */
  async dispose(): Promise<void> {
    for (const p of this.procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    const errors: unknown[] = []
    for (const ns of this.namespaces.splice(0).reverse()) await removeNs(ns).catch((e) => errors.push(e))
    if (errors.length) throw errors[0]
  }
}

async function removeNs(ns: string) {
  // A namespace lives on, unnamed, while a process is in it: kill them first.
  for (let i = 0; i < 50; i++) {
    const pids = (await ip(['netns', 'pids', ns], { reject: false })).stdout.split('\n').filter(Boolean).map(Number)
    if (!pids.length) break
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    await sleep(100)
  }
  if (existsSync(`/run/netns/${ns}`)) await ip(['netns', 'del', ns])
}

let swept: Promise<void> | undefined
/** Once per process: removes namespaces and root links of killed runs, older than SWEEP_AGE_MS. */
function sweep(): Promise<void> {
  swept ??= (async () => {
    const old = (name: string) => {
      const m = NAME.exec(name)
      return !!m && Date.now() - parseInt(m[1]!, 36) * 1000 > SWEEP_AGE_MS
    }
    const names = (await ip(['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!)
    for (const ns of names.filter(old)) await removeNs(ns).catch(() => {})
    const links = (await ip(['-o', 'link', 'show'])).stdout.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    for (const link of links.filter(old)) await ip(['link', 'del', link], { reject: false })
  })()
  return swept
}
