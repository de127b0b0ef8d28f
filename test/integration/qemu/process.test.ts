import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { connectWithRetry } from '#server/qemu/qmp/index'
import { cleanupStale, isRunning, probeVm, readProcStat, sameProcess } from '#server/qemu/process'
import { alive, QemuHarness, until } from '../../helpers/qemu'

const harness = new QemuHarness()
afterAll(() => harness.dispose())

/** A child process the test owns, killed at the end whatever happens. */
function owned(command: string, args: string[]) {
  const child = spawn(command, args, { stdio: 'ignore' })
  const kill = () => {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
  return { child, kill }
}

describe('process identity with a real QEMU', () => {
  it('a running QEMU is running; after kill -9 it is not, and cleanup removes its files', async () => {
    const before = Date.now()
    const vm = await harness.start()
    expect(await isRunning(vm.pidfile)).toBe(true)
    const probe = await probeVm(vm.pidfile)
    expect(probe?.pid).toBe(vm.pid)
    expect(probe!.startedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000)
    expect(probe!.startedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000)
    // The process a probe found is still this VM: its pid, started when it was.
    const known = { pid: probe!.pid, startTicks: probe!.stat.startTicks }
    expect(await sameProcess(vm.pidfile, known)).toBe(true)
    expect(await sameProcess(vm.pidfile, { ...known, startTicks: known.startTicks - 1 })).toBe(false)
    expect(await sameProcess(vm.pidfile, { ...known, pid: process.pid })).toBe(false)
    // Nothing is removed while the VM runs.
    expect(await cleanupStale(vm.runDir, vm.name)).toEqual([])
    for (const f of [vm.pidfile, vm.qmp, vm.vnc]) expect(existsSync(f)).toBe(true)

    await harness.kill(vm)
    // kill -9 gives QEMU no chance to clean up: all three files stay behind.
    for (const f of [vm.pidfile, vm.qmp, vm.vnc]) expect(existsSync(f)).toBe(true)
    expect(await isRunning(vm.pidfile)).toBe(false)
    expect(await sameProcess(vm.pidfile, known)).toBe(false)
    expect((await cleanupStale(vm.runDir, vm.name)).sort()).toEqual([vm.pidfile, vm.qmp, vm.vnc].sort())
    for (const f of [vm.pidfile, vm.qmp, vm.vnc]) expect(existsSync(f)).toBe(false)
    expect(await cleanupStale(vm.runDir, vm.name)).toEqual([])

    // The same name starts again cleanly in the cleaned run dir.
    const again = await harness.start({ runDir: vm.runDir, name: vm.name })
    expect(await isRunning(again.pidfile)).toBe(true)
    const client = await connectWithRetry(again.qmp, { deadlineMs: 5_000 })
    expect((await client.execute('query-status')).running).toBe(true)
    client.close()
  })

  it('after a clean quit only the VNC socket is left, and cleanup removes it', async () => {
    const vm = await harness.start()
    const client = await connectWithRetry(vm.qmp, { deadlineMs: 5_000 })
    await client.quit()
    await until(async () => !(await alive(vm.pid)), 5_000, 'QEMU exit')
    expect(await isRunning(vm.pidfile)).toBe(false)
    expect(await cleanupStale(vm.runDir, vm.name)).toEqual([vm.vnc])
  })

  it('a pidfile holding an unrelated live pid (this test runner) is not running', async () => {
    const runDir = await harness.runDir()
    const pidfile = join(runDir, 'impostor.pid')
    await writeFile(pidfile, `${process.pid}\n`)
    expect(await isRunning(pidfile)).toBe(false)
    // And cleanup treats the VM as dead: its stale pidfile goes, the test runner lives on.
    expect(await cleanupStale(runDir, 'impostor')).toEqual([pidfile])
  })

  it('a pidfile holding a pid that does not exist is not running', async () => {
    const runDir = await harness.runDir()
    const pidfile = join(runDir, 'gone.pid')
    await writeFile(pidfile, '4194303\n')
    expect(await isRunning(pidfile)).toBe(false)
  })

  it('a zombie is not running, though kill -0 succeeds on it', async () => {
    // sh forks a short sleep, then execs a long one that never reaps it: a zombie child.
    const { child, kill } = owned('sh', ['-c', 'sleep 0.05 & exec sleep 30'])
    try {
      const zombiePid = await (async () => {
        let found = 0
        await until(async () => {
          const { stdout } = await execa('ps', ['-o', 'pid=,stat=', '--ppid', String(child.pid)])
          const z = stdout.split('\n').map((l) => l.trim().split(/\s+/)).find(([, s]) => s?.startsWith('Z'))
          found = z ? Number(z[0]) : 0
          return found > 0
        }, 5_000, 'zombie child')
        return found
      })()
      expect(() => process.kill(zombiePid, 0)).not.toThrow()
      expect((await readProcStat(zombiePid))?.state).toBe('Z')
      const runDir = await harness.runDir()
      const pidfile = join(runDir, 'zombie.pid')
      await writeFile(pidfile, `${zombiePid}\n`)
      expect(await isRunning(pidfile)).toBe(false)
    } finally {
      kill()
    }
  })

  it('reads the state of a live process whose name holds ") Z ("', async () => {
    // bash under a tricky name, passed -pidfile like QEMU: running, not mistaken for a zombie.
    const runDir = await harness.runDir()
    const tricky = join(runDir, 'x) Z (y')
    await symlink('/bin/bash', tricky)
    const pidfile = join(runDir, 'tricky.pid')
    const { child, kill } = owned(tricky, ['-c', 'sleep 30; :', '-pidfile', pidfile])
    try {
      await writeFile(pidfile, `${child.pid}\n`)
      await until(async () => (await readProcStat(child.pid!))?.comm === 'x) Z (y', 5_000, 'exec of the tricky name')
      const vm = await probeVm(pidfile)
      expect(vm?.pid).toBe(child.pid)
      expect(vm?.stat.state).toMatch(/^[RS]$/)
    } finally {
      kill()
    }
  })
})
