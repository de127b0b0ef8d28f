import { afterEach, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { getPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Launcher, lineq } from '#server/qemu/launcher'

/** The launcher's shell: the one `sh` among this process's children (`nice` execs it). */
async function shellPid(): Promise<number> {
  const { stdout } = await execa('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)])
  const shells = stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, comm]) => comm === 'sh')
  expect(shells).toHaveLength(1)
  return Number(shells[0]![0])
}

const childrenOf = async (pid: number) => (await execa('ps', ['-o', 'stat=', '--ppid', String(pid)], { reject: false })).stdout.split('\n').filter(Boolean)

describe('Launcher', () => {
  let launcher: Launcher | undefined
  let dir = ''
  afterEach(async () => {
    launcher?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('runs each command at its nice, with every argument unchanged, and answers its exit status', async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-launcher-'))
    launcher = new Launcher(5)
    const args = ["it's", 'a "quoted" $HOME `x` $nl', '', 'two\nlines\n']
    const out = join(dir, 'args')
    expect(await launcher.run(`printf '%s\\0' ${args.map(lineq).join(' ')} >${lineq(out)}`, 10_000)).toBe('0')
    expect((await readFile(out, 'utf8')).split('\0').slice(0, -1)).toEqual(args)
    expect(await launcher.run(`nice >${lineq(out)}`, 10_000)).toBe('0')
    expect(Number(await readFile(out, 'utf8'))).toBe(getPriority() + 5)
    // Of the server's environment, only what QEMU may need: none of LabVirt's settings.
    process.env.LABVIRT_STORE_URL = 'redis://:secret@127.0.0.1:6379'
    try {
      const other = new Launcher(0)
      expect(await other.run(`env >${lineq(out)}`, 10_000)).toBe('0')
      other.close()
    } finally {
      delete process.env.LABVIRT_STORE_URL
    }
    const names = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf('=')))
    expect(names.filter((n) => !['PATH', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ', 'PWD', 'SHLVL', '_', 'OLDPWD'].includes(n))).toEqual([])
    expect(names).toContain('PATH')
    // At once, each answered with its own status.
    expect(await Promise.all([launcher.run('sleep 0.2; sh -c "exit 3"', 10_000), launcher.run('true', 10_000)])).toEqual(['3', '0'])
  })

  it('leaves no zombie behind, and a command that does not end in time counts as failed', async () => {
    launcher = new Launcher(0)
    for (let i = 0; i < 5; i++) expect(await launcher.run('true', 10_000)).toBe('0')
    const sh = await shellPid()
    expect(await childrenOf(sh)).toEqual([])
    expect(await launcher.run('sleep 5', 100)).toBe('')
    // An argument no process can be given is refused, not cut short.
    expect(await launcher.run(`printf x ${lineq('a\0b')}`, 10_000)).toBe('')
  })

  it('starts its shell again once it is gone; the commands it had not answered fail', async () => {
    launcher = new Launcher(0)
    expect(await launcher.run('true', 10_000)).toBe('0')
    const pending = launcher.run('sleep 5', 60_000)
    process.kill(await shellPid(), 'SIGKILL')
    expect(await pending).toBe('')
    expect(await launcher.run('sh -c "exit 4"', 10_000)).toBe('4')
  })
})
