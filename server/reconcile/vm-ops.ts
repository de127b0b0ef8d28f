import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { N_ } from '#schemas/msgid'
import type { VmMessage } from '#schemas/vms'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanupStale, probeVm, type VmProcess } from '../qemu/process'
import { qemuCwd, vmPaths } from '../qemu/paths'
import { prepareFirmware } from '../qemu/firmware'
import { qemuStartError } from '../qemu/start-error'
import { type Launcher, lineq } from '../qemu/launcher'
import type { Monitors } from './monitors'
import type { DesiredVm } from './desired'
import { networkGaps, networkNotReady } from '../network/checks'
import { imageFile } from '../images/files'
import { hidePaths } from '../errors'
import { autogroupsOn } from '../qemu/priority'

export interface HostRuntime {
  runDir: string
  qemu: string
  monitors: Monitors
  /** Forks the QEMU parents, at QEMU's nice value (LABVIRT_QEMU_NICE): booting guests must not starve the server. */
  launcher: Launcher
  powerdownTimeoutMs: number
  /** Whether the kernel has autogroups (default: what it says; see qemu/priority.ts). */
  autogroups?: boolean
}

/** How long a QEMU parent may take to set its VM up before its start counts as failed. */
const START_TIMEOUT_MS = 120_000

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
 * trying. The launcher's shell forks them: forking from node blocks its event loop for milliseconds
 * per child, tens of them while a lab cold-starts (measured in bench/diag-spawn.ts).
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
  const autogroups = rt.autogroups ?? autogroupsOn()
  await Promise.all(ready.map(async (vm) => void results.set(vm.id, await launch(rt, vm, autogroups))))
  return results
}

/**
 * Runs one VM's QEMU parent through the launcher and reads its verdict. Every QEMU boots at its
 * nice (the launcher's): until it daemonizes it weighs in the server's session, where twenty of
 * them would crowd the server out. With autogroups, -daemonize gives it a session of its own at
 * nice 0, which the same command puts at the nice as soon as the parent exits, before the guest
 * runs long.
 */
async function launch(rt: HostRuntime, vm: DesiredVm, autogroups: boolean): Promise<StartResult> {
  const paths = vmPaths(rt.runDir, vm.id)
  const errFile = join(rt.runDir, `${vm.id}.start-err`)
  const { nice } = rt.launcher
  const lower = nice && autogroups
    ? ` && { { read -r p <${lineq(paths.pidfile)} && echo ${nice} >"/proc/$p/autogroup"; } 2>/dev/null; true; }`
    : ''
  const qemu = [rt.qemu, ...vm.argv].map(lineq).join(' ')
  const rc = await rt.launcher.run(`{ cd ${lineq(qemuCwd(rt.runDir))} && ${qemu}; } </dev/null >/dev/null 2>${lineq(errFile)}${lower}`, START_TIMEOUT_MS)
  if (rc !== '0') {
    // With -D, QEMU reports most errors to its log rather than to stderr.
    let stderr = ''
    try {
      stderr = readFileSync(errFile, 'utf8')
    } catch {
      // not made: the launcher went away first
    }
    rmSync(errFile, { force: true })
    const why = stderr.trim() || (await qemuLogTail(paths.log))
    await cleanupStale(rt.runDir, vm.id)
    if (why) console.error(`[labvirt] ${vm.id}: QEMU failed to start:`, why)
    return { ok: false, error: why ? qemuStartError(hidePaths(why)) : { msgid: N_('QEMU exited with {code}'), params: { code: rc || '?' } } }
  }
  rmSync(errFile, { force: true })
  const proc = await probeVm(paths.pidfile)
  if (!proc) return { ok: false, error: { msgid: N_('QEMU started but exited at once') } }
  // QEMU's -daemonize sets its umask to 027, so its sockets come out srwxr-x---: QMP is full
  // control and VNC a screen without password. The run dir (0700) already keeps others out.
  for (const p of [paths.qmp, paths.toolQmp, paths.vnc]) {
    try {
      chmodSync(p, 0o600)
    } catch {
      // not made (a VM without VNC), or already gone with its QEMU
    }
  }
  // Connected once the pass that started it has answered: setting up the connection takes 0.3 ms
  // of the event loop (measured), which an admin's start would otherwise wait for. A timer, not
  // setImmediate: the answer itself is sent from setImmediate (h3), queued after this.
  setTimeout(() => void rt.monitors.ensure(vm.id), 0)
  return { ok: true, proc }
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
