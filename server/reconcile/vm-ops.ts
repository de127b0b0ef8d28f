import { spawn } from 'node:child_process'
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { execa } from 'execa'
import { N_ } from '#schemas/msgid'
import type { VmMessage } from '#schemas/vms'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanupStale, probeVm, type VmProcess } from '../qemu/process'
import { qemuCwd, vmPaths } from '../qemu/paths'
import { prepareFirmware } from '../qemu/firmware'
import { qemuStartError } from '../qemu/start-error'
import { shq } from '../shell'
import type { Monitors } from './monitors'
import type { DesiredVm } from './desired'
import { networkGaps, networkNotReady } from '../network/checks'
import { imageFile } from '../images/files'
import { hidePaths } from '../errors'
import { autogroupsOn, lowerPriority } from '../qemu/priority'

export interface HostRuntime {
  runDir: string
  qemu: string
  /** QEMU's nice value (LABVIRT_QEMU_NICE): booting guests must not starve the server. */
  qemuNice: number
  monitors: Monitors
  powerdownTimeoutMs: number
  /** Whether the kernel has autogroups (default: what it says; see qemu/priority.ts). */
  autogroups?: boolean
}

export type StartResult = { ok: true; proc: VmProcess } | { ok: false; error: VmMessage }

/** The last lines of a VM's QEMU log (-D): why it failed or exited. Empty when there are none. */
export async function qemuLogTail(log: string, lines = 3): Promise<string> {
  const text = await readFile(log, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter((l) => l.trim() && !/^qemu: module .* not found/.test(l))
    .slice(-lines)
    .join('\n')
    .slice(-1000)
}

/**
 * Starts VMs daemonized, all at once. QEMU's parent exits once its VM is set up (or failed to
 * be), so its exit code and stderr are each start's verdict; a missing image is reported without
 * trying. One `sh` forks every QEMU of a batch: forking from node blocks its event loop for
 * tens of milliseconds per child (measured in bench/diag-spawn.ts), which delays the whole batch
 * and the API while a lab cold-starts. A batch of one is spawned directly.
 */
export async function startVms(rt: HostRuntime, vms: DesiredVm[]): Promise<Map<string, StartResult>> {
  const results = new Map<string, StartResult>()
  const ready: DesiredVm[] = []
  mkdirSync(qemuCwd(rt.runDir), { recursive: true, mode: 0o700 })
  await Promise.all(vms.map(async (vm) => {
    // Named, not by path: VM errors reach every viewer, and the host's layout is not theirs to see.
    for (const path of vm.images) {
      const file = await imageFile(dirname(path), basename(path), { readable: true })
      if ('problem' in file) {
        const msgid = file.problem === 'missing' ? N_('Image file {file} is missing') : N_('Image file {file} is not a regular file of the images directory')
        return void results.set(vm.id, { ok: false, error: { msgid, params: { file: basename(path) } } })
      }
      if (!file.readable) {
        return void results.set(vm.id, { ok: false, error: { msgid: N_('Image file {file} is unreadable'), params: { file: basename(path) } } })
      }
    }
    // A missing tap or bridge is root's to fix: say which step, rather than QEMU's own words.
    const gaps = vm.network ? await networkGaps(vm.network) : []
    if (gaps.length) return void results.set(vm.id, { ok: false, error: networkNotReady(gaps) })
    await cleanupStale(rt.runDir, vm.id)
    try {
      await prepareFirmware(vm.spec)
    } catch (err) {
      console.error(`[labvirt] ${vm.id}: UEFI variables: ${(err as Error).message}`)
      return void results.set(vm.id, { ok: false, error: { msgid: N_('The UEFI firmware is missing on this host: install the ovmf package') } })
    }
    ready.push(vm)
  }))
  if (ready.length === 0) return results
  // `nice` execs its command in place, so QEMU boots at its lower priority: until it daemonizes
  // (its own session, whose nice is set below) a QEMU weighs in the server's session, where twenty
  // of them would crowd the server out. A batch's shell runs under `nice`, its QEMUs inherit it;
  // with autogroups one QEMU alone does not need it and skips the exec (1-7 ms of a start, measured).
  const autogroups = rt.autogroups ?? autogroupsOn()
  const niced = (argv: string[]) => (rt.qemuNice ? ['nice', '-n', String(rt.qemuNice), ...argv] : argv)
  const verdicts = new Map<string, { rc: string; stderr: string }>()
  const files = (vm: DesiredVm) => ({ err: join(rt.runDir, `${vm.id}.start-err`), rc: join(rt.runDir, `${vm.id}.start-rc`) })
  // A VM outlives the server on purpose: no exit hook of execa's (`cleanup`) may kill a QEMU parent
  // still setting its VM up.
  const opts = { reject: false, timeout: 120_000, cwd: qemuCwd(rt.runDir), cleanup: false } as const
  if (ready.length === 1) {
    // One VM (an admin's start, a seat back after a death): no shell to fork in between. Its stderr
    // goes to a file, as in a batch: execa's handling of a pipe cost a single start 1-3 ms (measured).
    const vm = ready[0]!
    const qemu = [rt.qemu, ...vm.argv]
    const [file, ...args] = autogroups ? qemu : niced(qemu)
    const err = files(vm).err
    const fd = openSync(err, 'w', 0o600)
    let rc: string
    let stderr = ''
    try {
      rc = await runParent(file!, args, { cwd: opts.cwd, stderr: fd, timeoutMs: opts.timeout })
      // Read only when QEMU said something: a start that went well wrote nothing.
      if (fstatSync(fd).size > 0) stderr = readFileSync(err, 'utf8')
    } finally {
      closeSync(fd)
    }
    verdicts.set(vm.id, { rc, stderr })
    rmSync(err, { force: true })
  } else {
    // Each QEMU's session is put at the nice as soon as its parent exits, before its guest runs
    // long: waiting for the whole batch left the first guests at full weight beside the server's
    // session while the rest were set up.
    const lower = (vm: DesiredVm) => (rt.qemuNice && autogroups ? ` && { read -r p <${shq(vmPaths(rt.runDir, vm.id).pidfile)} && echo ${rt.qemuNice} >/proc/$p/autogroup; } 2>/dev/null` : '')
    const script = ready
      .map((vm) => `( ${[rt.qemu, ...vm.argv].map(shq).join(' ')} </dev/null >/dev/null 2>${shq(files(vm).err)}; rc=$?; echo $rc >${shq(files(vm).rc)}; [ $rc = 0 ]${lower(vm)} ) &`)
      .concat('wait')
      .join('\n')
    const [sh, ...shArgs] = niced(['sh', '-c', script])
    await execa(sh!, shArgs, { ...opts, stdin: 'ignore' })
    await Promise.all(ready.map(async (vm) => {
      const f = files(vm)
      const [rc, stderr] = await Promise.all([readFile(f.rc, 'utf8').catch(() => ''), readFile(f.err, 'utf8').catch(() => '')])
      verdicts.set(vm.id, { rc: rc.trim(), stderr })
      await Promise.all([rm(f.rc, { force: true }), rm(f.err, { force: true })])
    }))
  }
  await Promise.all(ready.map(async (vm) => {
    const { rc, stderr } = verdicts.get(vm.id)!
    // With -D, QEMU reports errors to its log rather than to stderr.
    const why = stderr.trim() || (rc !== '0' ? await qemuLogTail(vmPaths(rt.runDir, vm.id).log) : '')
    if (rc !== '0') {
      await cleanupStale(rt.runDir, vm.id)
      if (why) console.error(`[labvirt] ${vm.id}: QEMU failed to start:`, why)
      const error: VmMessage = why ? qemuStartError(hidePaths(why)) : { msgid: N_('QEMU exited with {code}'), params: { code: rc || '?' } }
      return void results.set(vm.id, { ok: false, error })
    }
    const proc = await probeVm(vmPaths(rt.runDir, vm.id).pidfile)
    if (!proc) return void results.set(vm.id, { ok: false, error: { msgid: N_('QEMU started but exited at once') } })
    // QEMU's -daemonize sets its umask to 027, so its sockets come out srwxr-x---: QMP is full
    // control and VNC a screen without password. The run dir (0700) already keeps others out.
    const { qmp, toolQmp, vnc } = vmPaths(rt.runDir, vm.id)
    for (const p of [qmp, toolQmp, vnc]) {
      try {
        chmodSync(p, 0o600)
      } catch {
        // not made (a VM without VNC), or already gone with its QEMU
      }
    }
    // Only a single start under autogroups needs it: otherwise QEMU ran under `nice` (its threads
    // inherit it) and a batch's shell has set its session already.
    if (autogroups && ready.length === 1) lowerPriority(proc.pid, rt.qemuNice)
    // Connected once the pass that started it has answered: setting up the connection takes 0.3 ms
    // of the event loop (measured), which an admin's start would otherwise wait for. A timer, not
    // setImmediate: the answer itself is sent from setImmediate (h3), queued after this.
    setTimeout(() => void rt.monitors.ensure(vm.id), 0)
    results.set(vm.id, { ok: true, proc })
  }))
  return results
}

/**
 * Runs one daemonizing QEMU parent and resolves with its exit code ('' when it could not be run or
 * was killed), as execa's `exitCode` with `reject: false` would. Node's own spawn here: execa's
 * set-up and teardown around a process cost a single start 0.8-1.1 ms of its ~40 (measured:
 * bench/diag-start-parts), and a start needs nothing of it but the code.
 */
function runParent(file: string, args: string[], o: { cwd: string; stderr: number; timeoutMs: number }): Promise<string> {
  return new Promise((done) => {
    const child = spawn(file, args, { cwd: o.cwd, stdio: ['ignore', 'ignore', o.stderr] })
    // A parent that never exits would hold the pass: ended as execa's `timeout` would.
    const timer = setTimeout(() => child.kill('SIGTERM'), o.timeoutMs)
    const end = (rc: string) => {
      clearTimeout(timer)
      done(rc)
    }
    child.once('error', () => end(''))
    child.once('exit', (code) => end(code === null ? '' : String(code)))
  })
}

async function waitGone(pidfile: string, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const p = await probeVm(pidfile)
    if (!p || p.pid !== pid) return true
    if (Date.now() >= deadline) return false
    await sleep(25)
  }
}

export type StopHow = 'quit' | 'powerdown' | 'kill'

/**
 * Stops a VM: `powerdown` asks the guest (ACPI) and quits after the timeout, `quit` ends QEMU
 * through QMP (SIGTERM when QMP does not answer), `kill` is SIGKILL. Each falls back to the next
 * harder one, so the VM is always gone in the end.
 */
export async function stopVm(rt: HostRuntime, id: string, pid: number, how: StopHow): Promise<void> {
  const { pidfile } = vmPaths(rt.runDir, id)
  const qmp = how === 'kill' ? undefined : await rt.monitors.ensure(id, 1000)
  if (how === 'powerdown' && qmp) {
    await qmp.execute('system_powerdown').catch(() => {})
    if (await waitGone(pidfile, pid, rt.powerdownTimeoutMs)) return void (await cleanupStale(rt.runDir, id))
  }
  if (how !== 'kill') {
    if (qmp && !qmp.isClosed) await qmp.quit({ timeoutMs: 2000 }).catch(() => {})
    else signal(pid, 'SIGTERM')
    if (await waitGone(pidfile, pid, 5000)) return void (await cleanupStale(rt.runDir, id))
  }
  signal(pid, 'SIGKILL')
  await waitGone(pidfile, pid, 5000)
  await cleanupStale(rt.runDir, id)
}

function signal(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}
