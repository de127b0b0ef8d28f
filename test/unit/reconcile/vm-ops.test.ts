import { describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { getPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startVms } from '#server/reconcile/vm-ops'
import type { DesiredVm } from '#server/reconcile/desired'
import { Monitors } from '#server/reconcile/monitors'

// startVms runs every QEMU of a batch through one `sh` (a batch of one directly): each argument
// must reach the program exactly as given, whatever quotes, spaces or `$` it holds, and QEMU runs
// at its lower priority (through `nice` without autogroups). A fake QEMU records its argv and its nice value.
describe('startVms', () => {
  it('passes every argument unchanged, at QEMU\'s nice value, and reports each start on its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-startvms-'))
    try {
      const fake = join(dir, "fake qemu's")
      await writeFile(fake, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$LOG_DIR/$1.argv"\nnice > "$LOG_DIR/$1.nice"\npwd > "$LOG_DIR/$1.cwd"\n[ "$1" = bad ] && { echo "no such drive" >&2; exit 1; }\nexit 0\n`, { mode: 0o755 })
      const argv = ["it's", 'a "quoted" $HOME `x`', 'spa ce', 'back\\slash', '', 'comma,,here']
      const vm = (id: string): DesiredVm => ({ id, argv: [id, ...argv], images: [], spec: {} } as unknown as DesiredVm)
      process.env.LOG_DIR = dir
      const rt = { runDir: join(dir, 'run'), qemu: fake, qemuNice: 7, monitors: new Monitors(join(dir, 'run'), () => {}), powerdownTimeoutMs: 1000, autogroups: false }
      const niceOf = async (id: string) => Number(await readFile(join(dir, `${id}.nice`), 'utf8'))
      for (const batch of [['good', 'bad'], ['one'], ['bad']]) {
        const results = await startVms(rt, batch.map(vm))
        for (const id of batch) {
          expect((await readFile(join(dir, `${id}.argv`), 'utf8')).split('\n').slice(0, -1)).toEqual([id, ...argv])
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
      await startVms({ ...rt, qemuNice: 0 }, [vm('one')])
      expect(await niceOf('one')).toBe(getPriority())
      // With autogroups a batch still boots at the nice value (before QEMU daemonizes it counts in
      // the server's session); one VM alone gets it once daemonized (the real-QEMU test
      // qemu-hardening checks that), without a `nice` in between.
      await startVms({ ...rt, autogroups: true }, [vm('one'), vm('good')])
      for (const id of ['one', 'good']) expect(await niceOf(id)).toBe(getPriority() + 7)
      await startVms({ ...rt, autogroups: true }, [vm('bad')])
      expect(await niceOf('bad')).toBe(getPriority())
    } finally {
      delete process.env.LOG_DIR
      await rm(dir, { recursive: true, force: true })
    }
  })
})
