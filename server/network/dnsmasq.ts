import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { IFNAME_PATTERN } from '#schemas/common'
import { dnsmasqHosts, type Reservation } from './dhcp'

export interface DnsmasqOptions {
  /** Where the hosts file, the lease file and the pidfile live (`<dataDir>/dhcp`). */
  dir: string
  interface: string
  /** dnsmasq's --dhcp-range, validated by the config (e.g. `10.77.0.0,static`). */
  range: string
  /** The reservations to serve, read again on every refresh. */
  load: () => Promise<Reservation[]>
  binary?: string
  /** Where dnsmasq's own log lines go. */
  log?: (line: string) => void
}

/** A dnsmasq that ran this long was healthy: its death restarts it at once. */
const HEALTHY_MS = 30_000
const MAX_BACKOFF_MS = 30_000

/**
 * A DHCP-only dnsmasq (no DNS: --port=0) run as LabVirt's child on one interface, serving the seat
 * and terminal reservations from a hosts file it rereads on SIGHUP. The lease file is kept across
 * restarts. It runs as LabVirt's own user (--user): the hosts file sits under the data directory,
 * which the user dnsmasq would otherwise drop to (nobody) may not be able to traverse.
 */
export class ManagedDnsmasq {
  readonly hostsFile: string
  readonly leaseFile: string
  readonly pidFile: string
  private proc: ChildProcess | undefined
  private written: string | undefined
  private stopping = false
  private failures = 0
  private restartTimer: NodeJS.Timeout | undefined
  private refreshing: Promise<void> = Promise.resolve()

  constructor(private opts: DnsmasqOptions) {
    if (!IFNAME_PATTERN.test(opts.interface)) throw new Error(`not an interface name: ${opts.interface}`)
    this.hostsFile = join(opts.dir, 'hosts')
    this.leaseFile = join(opts.dir, 'leases')
    this.pidFile = join(opts.dir, 'dnsmasq.pid')
  }

  argv(): string[] {
    return [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--interface=${this.opts.interface}`,
      '--bind-interfaces',
      '--except-interface=lo',
      '--port=0',
      `--dhcp-range=${this.opts.range}`,
      `--dhcp-hostsfile=${this.hostsFile}`,
      `--dhcp-leasefile=${this.leaseFile}`,
      `--pid-file=${this.pidFile}`,
      `--user=${userInfo().username}`,
      '--log-facility=-',
    ]
  }

  get pid() {
    return this.proc?.pid
  }

  async start(): Promise<void> {
    this.stopping = false
    await mkdir(this.opts.dir, { recursive: true })
    await this.killLeftover()
    await this.writeHosts(dnsmasqHosts(await this.opts.load()))
    this.spawn()
  }

  /** Writes the hosts file again if the reservations changed, and has dnsmasq reread it. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(async () => {
      const text = dnsmasqHosts(await this.opts.load())
      if (text === this.written) return
      await this.writeHosts(text)
      this.proc?.kill('SIGHUP')
    }).catch((err) => this.log(`cannot refresh the DHCP reservations: ${(err as Error).message}`))
    return this.refreshing
  }

  async stop(): Promise<void> {
    this.stopping = true
    clearTimeout(this.restartTimer)
    const proc = this.proc
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise((r) => proc.once('exit', r))
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  private log(line: string) {
    ;(this.opts.log ?? ((l) => console.log(`[labvirt] dnsmasq: ${l}`)))(line)
  }

  // Atomic: dnsmasq may reread it (SIGHUP, or its own restart) at any moment.
  private async writeHosts(text: string) {
    const tmp = `${this.hostsFile}.tmp-${process.pid}`
    await writeFile(tmp, text, { mode: 0o644 })
    await rename(tmp, this.hostsFile)
    this.written = text
  }

  /** A dnsmasq of a LabVirt that was killed still holds the DHCP socket: it goes first. */
  private async killLeftover() {
    const pid = Number((await readFile(this.pidFile, 'utf8').catch(() => '')).trim())
    if (!pid) return
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (!cmdline.includes(`--dhcp-hostsfile=${this.hostsFile}`)) return
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      return
    }
    for (let i = 0; i < 100 && (await readFile(`/proc/${pid}/cmdline`, 'utf8').then(() => true, () => false)); i++) await sleep(50)
  }

  private spawn() {
    const started = Date.now()
    const proc = spawn(this.opts.binary ?? 'dnsmasq', this.argv(), { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    let pending = ''
    const lines = (d: Buffer) => {
      pending += d.toString()
      const parts = pending.split('\n')
      pending = parts.pop()!
      for (const l of parts) if (l.trim()) this.log(l.replace(/^dnsmasq(-dhcp)?(\[\d+\])?: /, ''))
    }
    proc.stdout!.on('data', lines)
    proc.stderr!.on('data', lines)
    proc.on('error', (err) => this.log(`cannot run ${this.opts.binary ?? 'dnsmasq'}: ${err.message}`))
    proc.on('close', (code, signal) => {
      if (this.proc !== proc) return
      this.proc = undefined
      if (this.stopping) return
      this.failures = Date.now() - started >= HEALTHY_MS ? 1 : this.failures + 1
      const delay = Math.min(1000 * 2 ** (this.failures - 1), MAX_BACKOFF_MS)
      this.log(`exited (${signal ?? code}); starting it again in ${delay / 1000} s`)
      this.restartTimer = setTimeout(() => {
        if (!this.stopping) void this.start().catch((err) => this.log((err as Error).message))
      }, delay)
      this.restartTimer.unref()
    })
  }
}
