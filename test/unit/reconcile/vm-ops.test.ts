import { afterEach, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { getPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startVms } from '#server/reconcile/vm-ops'
import type { DesiredVm } from '#server/reconcile/desired'
import { Monitors } from '#server/reconcile/monitors'
import { Launcher } from '#server/qemu/launcher'

// startVms runs every QEMU through the launcher's shell: each argument must reach the program
// exactly as given, whatever quotes, spaces, newlines or `$` it holds, and QEMU runs at its lower
// priority. A fake QEMU records its argv and its nice value.
describe('startVms', () => {
  const launchers: Launcher[] = []
  const launcher = (nice: number) => {
    const l = new Launcher(nice)
    launchers.push(l)
    return l
  }
  afterEach(() => {
    for (const l of launchers.splice(0)) l.close()
  })

  it('passes every argument unchanged, at QEMU\'s nice value, and reports each start on its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-startvms-'))
    try {
      const fake = join(dir, "fake qemu's")
      await writeFile(fake, `#!/bin/sh\nLOG_DIR=$(dirname "$0")\nfor a in "$@"; do printf '%s\\0' "$a"; done > "$LOG_DIR/$1.argv"\nnice > "$LOG_DIR/$1.nice"\npwd > "$LOG_DIR/$1.cwd"\n[ "$1" = bad ] && { echo "no such drive" >&2; exit 1; }\nexit 0\n`, { mode: 0o755 })
      const argv = ["it's", 'a "quoted" $HOME `x`', 'spa ce', 'back\\slash', '', 'comma,,here', 'new\nline $nl']
      const vm = (id: string): DesiredVm => ({ id, argv: [id, ...argv], images: [], spec: {} } as unknown as DesiredVm)
      const rt = { runDir: join(dir, 'run'), qemu: fake, launcher: launcher(7), monitors: new Monitors(join(dir, 'run'), () => {}), powerdownTimeoutMs: 1000, autogroups: false }
      const niceOf = async (id: string) => Number(await readFile(join(dir, `${id}.nice`), 'utf8'))
      for (const batch of [['good', 'bad'], ['one'], ['bad']]) {
        const results = await startVms(rt, batch.map(vm))
        for (const id of batch) {
          expect((await readFile(join(dir, `${id}.argv`), 'utf8')).split('\0').slice(0, -1)).toEqual([id, ...argv])
          expect(await niceOf(id)).toBe(getPriority() + 7)
          // QEMU starts in an empty directory: a relative path in its options names no host file.
          expect((await readFile(join(dir, `${id}.cwd`), 'utf8')).trim()).toBe(join(rt.runDir, 'empty'))
          if (id === 'bad') expect(results.get(id)).toEqual({ ok: false, error: { msgid: 'QEMU: {output}', params: { output: 'no such drive' } } })
          // A zero exit without a pidfile: QEMU did not stay up.
          else expect(results.get(id)).toEqual({ ok: false, error: { msgid: 'QEMU started but exited at once' } })
        }
        // Only QEMU's (empty) working directory is left.
        expect((await execa('ls', ['-A', rt.runDir])).stdout).toBe('empty')
        expect((await execa('ls', ['-A', join(rt.runDir, 'empty')])).stdout).toBe('')
      }
      await startVms({ ...rt, launcher: launcher(0) }, [vm('one')])
      expect(await niceOf('one')).toBe(getPriority())
      // With autogroups too, every QEMU boots at the nice value: before it daemonizes it counts in
      // the server's session (its own session's nice, once daemonized, is qemu-hardening's to check).
      await startVms({ ...rt, autogroups: true }, [vm('one'), vm('good')])
      await startVms({ ...rt, autogroups: true }, [vm('bad')])
      for (const id of ['one', 'good', 'bad']) expect(await niceOf(id)).toBe(getPriority() + 7)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a batch puts each QEMU\'s session at the nice once its parent exits, not once the whole batch has', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-startvms-'))
    const run = join(dir, 'run')
    // A fake -daemonize: "fast" leaves a child in a session of its own (its pid in the pidfile) and
    // exits; "slow" stays in the batch until fast's session shows nice 7, and fails after 5 s.
    const fake = join(dir, 'qemu')
    await writeFile(fake, `#!/bin/sh
[ -e /proc/self/autogroup ] || exit 0
if [ "$1" = fast ]; then
  # As QEMU: the pidfile is written in the new session, and the parent exits once it is there.
  setsid sh -c 'echo $$ > "$0"; exec sleep 30' "${run}/fast.pid" </dev/null >/dev/null 2>&1 &
  while [ ! -s "${run}/fast.pid" ]; do sleep 0.01; done
  exit 0
fi
i=0; while [ $i -lt 100 ]; do grep -q ' nice 7$' "/proc/$(cat "${run}/fast.pid" 2>/dev/null)/autogroup" 2>/dev/null && exit 0; sleep 0.05; i=$((i+1)); done
echo "fast's session: $(cat "/proc/$(cat "${run}/fast.pid")/autogroup")" >&2; exit 1
`, { mode: 0o755 })
    const vm = (id: string): DesiredVm => ({ id, argv: [id], images: [], spec: {} } as unknown as DesiredVm)
    const rt = { runDir: run, qemu: fake, launcher: launcher(7), monitors: new Monitors(run, () => {}), powerdownTimeoutMs: 1000, autogroups: true }
    try {
      const results = await startVms(rt, [vm('fast'), vm('slow')])
      // Neither is a real QEMU (no pidfile that names itself): both "exited at once", slow not failed.
      expect(results.get('slow')).toEqual({ ok: false, error: { msgid: 'QEMU started but exited at once' } })
    } finally {
      const pid = Number(await readFile(join(run, 'fast.pid'), 'utf8').catch(() => '0'))
      if (pid) process.kill(pid, 'SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
