import { describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startVms } from '../../../server/reconcile/vm-ops'
import type { DesiredVm } from '../../../server/reconcile/desired'
import { Monitors } from '../../../server/reconcile/monitors'

// startVms runs every QEMU of a batch through one `sh`: each argument must reach the program
// exactly as given, whatever quotes, spaces or `$` it holds. A fake QEMU records its argv.
describe('startVms', () => {
  it('passes every argument through the shell unchanged and reports each start on its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labvirt-startvms-'))
    try {
      const fake = join(dir, "fake qemu's")
      await writeFile(fake, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$LOG_DIR/$1.argv"\npwd > "$LOG_DIR/$1.cwd"\n[ "$1" = bad ] && { echo "no such drive" >&2; exit 1; }\nexit 0\n`, { mode: 0o755 })
      const argv = ["it's", 'a "quoted" $HOME `x`', 'spa ce', 'back\\slash', '', 'comma,,here']
      const vm = (id: string): DesiredVm => ({ id, argv: [id, ...argv], images: [], spec: {} } as unknown as DesiredVm)
      process.env.LOG_DIR = dir
      const rt = { runDir: join(dir, 'run'), qemu: fake, monitors: new Monitors(join(dir, 'run'), () => {}), powerdownTimeoutMs: 1000 }
      const results = await startVms(rt, [vm('good'), vm('bad')])
      expect((await readFile(join(dir, 'good.argv'), 'utf8')).split('\n').slice(0, -1)).toEqual(['good', ...argv])
      // QEMU starts in an empty directory: a relative path in its options names no host file.
      expect((await readFile(join(dir, 'good.cwd'), 'utf8')).trim()).toBe(join(rt.runDir, 'empty'))
      expect(results.get('bad')).toEqual({ ok: false, error: { msgid: 'QEMU: {output}', params: { output: 'no such drive' } } })
      // A zero exit without a pidfile: QEMU did not stay up.
      expect(results.get('good')).toEqual({ ok: false, error: { msgid: 'QEMU started but exited at once' } })
      // Only QEMU's (empty) working directory is left.
      expect((await execa('ls', ['-A', rt.runDir])).stdout).toBe('empty')
      expect((await execa('ls', ['-A', join(rt.runDir, 'empty')])).stdout).toBe('')
    } finally {
      delete process.env.LOG_DIR
      await rm(dir, { recursive: true, force: true })
    }
  })
})
