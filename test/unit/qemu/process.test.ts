import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cleanupStale, cmdlineHasPidfile, isRunning, parseProcStat, probeVm, readPidfile } from '#server/qemu/process'

// A real stat line's tail after comm: state, ppid, ..., starttime (field 22).
const tail = (state: string, start = 4242) => `${state} 1 4321 4321 0 -1 4194624 100 0 0 0 5 3 0 0 20 0 3 0 ${start} 123456 789 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0`

describe('parseProcStat', () => {
  it.each([
    ['plain comm', `4321 (qemu-system-x86) ${tail('S')}`, 'qemu-system-x86', 'S'],
    ['spaces in comm', `4321 (my qemu vm) ${tail('R')}`, 'my qemu vm', 'R'],
    ['a fake ") Z (" in comm, really sleeping', `4321 (a) Z (b) ${tail('S')}`, 'a) Z (b', 'S'],
    ['parentheses only', `4321 ()) ${tail('Z')}`, ')', 'Z'],
    ['empty comm', `4321 () ${tail('D')}`, '', 'D'],
  ])('%s', (_, line, comm, state) => {
    expect(parseProcStat(line)).toEqual({ pid: 4321, comm, state, ppid: 1, startTicks: 4242 })
  })

  it.each([['no parentheses', '4321 qemu S 1'], ['truncated', '4321 (qemu)'], ['no pid', '(qemu) S 1'], ['', '']])('refuses %s', (_, line) => {
    expect(parseProcStat(line)).toBeNull()
  })
})

describe('cmdlineHasPidfile', () => {
  it.each([
    [['qemu', '-pidfile', '/run/a.pid'], true],
    [['qemu', '--pidfile', '/run/a.pid'], true],
    [['qemu', '-pidfile', '/run/a.pid.old'], false],
    [['qemu', '-name', '/run/a.pid'], false],
    [['qemu', '/run/a.pid'], false],
    [['qemu', '-pidfile'], false],
    [[], false],
  ])('%j -> %s', (argv, expected) => {
    expect(cmdlineHasPidfile(argv, '/run/a.pid')).toBe(expected)
  })
})

describe('against a fake /proc', () => {
  let dir: string
  let proc: string
  let run: string
  const pidfile = () => join(run, 'vm1.pid')

  async function fakeProcess(pid: number, state: string, argv: string[], comm = 'qemu-system-x86') {
    await mkdir(join(proc, String(pid)), { recursive: true })
    await writeFile(join(proc, String(pid), 'stat'), `${pid} (${comm}) ${tail(state)}\n`)
    await writeFile(join(proc, String(pid), 'cmdline'), argv.map((a) => `${a}\0`).join(''))
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labvirt-proc-'))
    proc = join(dir, 'proc')
    run = join(dir, 'run')
    await mkdir(proc)
    await mkdir(run)
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  it.each([
    ['alive, cmdline names the pidfile', 'S', true, true],
    ['running on a CPU', 'R', true, true],
    ['a zombie', 'Z', true, false],
    ['dead', 'X', true, false],
    ['alive, but another program (reused pid)', 'S', false, false],
  ])('%s', async (_, state, ours, running) => {
    await writeFile(pidfile(), '777\n')
    await fakeProcess(777, state, ours ? ['qemu-system-x86_64', '-name', 'vm1', '-pidfile', pidfile(), '-daemonize'] : ['/usr/sbin/sshd', '-D'])
    expect(await isRunning(pidfile(), { procRoot: proc })).toBe(running)
  })

  it('reads through a comm that fakes a zombie state', async () => {
    await writeFile(pidfile(), '778')
    await fakeProcess(778, 'S', ['qemu', '-pidfile', pidfile()], 'x) Z (y')
    const vm = await probeVm(pidfile(), { procRoot: proc })
    expect(vm).toMatchObject({ pid: 778, stat: { state: 'S', comm: 'x) Z (y' } })
    expect(vm!.startedAt).toBeInstanceOf(Date)
  })

  it.each([
    ['missing', null],
    ['empty', ''],
    ['garbage', 'hello\n'],
    ['negative', '-5'],
    ['zero', '0'],
    ['a float', '12.5'],
    ['too big', '99999999999'],
  ])('a %s pidfile means not running', async (_, content) => {
    if (content !== null) await writeFile(pidfile(), content)
    expect(await readPidfile(pidfile())).toBeNull()
    expect(await isRunning(pidfile(), { procRoot: proc })).toBe(false)
  })

  it('a pid with no process means not running', async () => {
    await writeFile(pidfile(), '779\n')
    expect(await isRunning(pidfile(), { procRoot: proc })).toBe(false)
  })

  it('cleanupStale removes pidfile and sockets of a dead VM, and nothing of a live one', async () => {
    const files = ['vm1.pid', 'vm1.qmp', 'vm1.vnc'].map((f) => join(run, f))
    for (const f of files) await writeFile(f, f.endsWith('.pid') ? '780\n' : '')
    await writeFile(join(run, 'vm10.qmp'), '')
    await fakeProcess(780, 'S', ['qemu', '-pidfile', pidfile()])
    expect(await cleanupStale(run, 'vm1', { procRoot: proc })).toEqual([])

    await fakeProcess(780, 'Z', [])
    expect((await cleanupStale(run, 'vm1', { procRoot: proc })).sort()).toEqual(files.sort())
    expect(await cleanupStale(run, 'vm1', { procRoot: proc })).toEqual([])
    // Another VM's files are not touched.
    expect(existsSync(join(run, 'vm10.qmp'))).toBe(true)
  })
})
