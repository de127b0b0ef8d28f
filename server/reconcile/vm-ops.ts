import { access, constants, mkdir } from 'node:fs/promises'
import { execa } from 'execa'
import { N_ } from '../../schemas/msgid'
import type { VmMessage } from '../../schemas/vms'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanupStale, probeVm, type VmProcess } from '../qemu/process'
import { vmPaths } from '../qemu/paths'
import type { Monitors } from './monitors'
import type { DesiredVm } from './desired'

export interface HostRuntime {
  runDir: string
  qemu: string
  monitors: Monitors
  powerdownTimeoutMs: number
}

export type StartResult = { ok: true; proc: VmProcess } | { ok: false; error: VmMessage }

/**
 * Starts a VM daemonized. QEMU's parent exits once the VM is set up (or failed to be), so its exit
 * code and stderr are the start's verdict; a missing image is reported without trying.
 */
export async function startVm(rt: HostRuntime, vm: DesiredVm): Promise<StartResult> {
  for (const path of vm.images) {
    try {
      await access(path, constants.R_OK)
    } catch {
      return { ok: false, error: { msgid: N_('Image file missing or unreadable: {path}'), params: { path } } }
    }
  }
  await mkdir(rt.runDir, { recursive: true, mode: 0o750 })
  await cleanupStale(rt.runDir, vm.id)
  const r = await execa(rt.qemu, vm.argv, { reject: false, timeout: 60_000, stdin: 'ignore' })
  if (r.exitCode !== 0) {
    await cleanupStale(rt.runDir, vm.id)
    const why = (r.stderr || r.stdout || r.shortMessage || '').trim()
    return { ok: false, error: why ? { msgid: N_('QEMU: {output}'), params: { output: why } } : { msgid: N_('QEMU exited with {code}'), params: { code: String(r.exitCode ?? r.signal) } } }
  }
  const proc = await probeVm(vmPaths(rt.runDir, vm.id).pidfile)
  if (!proc) return { ok: false, error: { msgid: N_('QEMU started but exited at once') } }
  void rt.monitors.ensure(vm.id)
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
