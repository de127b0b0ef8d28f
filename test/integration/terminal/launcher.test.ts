import { type ChildProcess, spawn } from 'node:child_process'
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { create, uniqueName } from '../../helpers/fixtures'
import { makeLab, setLabSize, startVmServer, type VmWorld, waitFor } from '../vms/vm-helpers'

// The real launcher (terminal/labvirt-terminal, run by sh) against a built server running a real
// QEMU seat. The "remote desktop client" is a script that records its argv and stays until told
// to go, so heartbeats happen while it runs.

const LAUNCHER = resolve(__dirname, '../../../terminal/labvirt-terminal')
// A parameter and an argument that a shell would mangle if anything were evaluated or split.
const USER = `o'brien "jo" smith`
const TRICKY = `it's "quoted" $HOME \`id\` \\ * ;|&`

let w: VmWorld
let dir: string
const launchers: Launcher[] = []

beforeAll(async () => {
  w = await startVmServer()
  // Short path with only [A-Za-z0-9/-]: a client class's program must match the schema.
  dir = await mkdtemp('/tmp/lv-launcher-')
  await writeFile(
    join(dir, 'fake-client'),
    [
      '#!/bin/sh',
      '# Records its argv ($0 too), NUL-separated, then stays until the file "quit" appears (at most 60 s).',
      `out=${dir}/argv.$$`,
      'for a in "$0" "$@"; do printf \'%s\\0\' "$a"; done >"$out.tmp" && mv "$out.tmp" "$out"',
      'i=0',
      `while [ ! -e ${dir}/quit ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done`,
    ].join('\n') + '\n',
  )
  await chmod(join(dir, 'fake-client'), 0o755)
})

afterAll(async () => {
  for (const l of launchers) await l.stop()
  await w?.dispose()
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface Launcher {
  proc: ChildProcess
  stderr(): string
  stop(): Promise<void>
}

/**
 * Runs the launcher with `shell` (sh is dash on Debian; thin terminals may have only busybox) in
 * its own process group, so it, its client and its heartbeats die together.
 */
function launch(env: Record<string, string>, shell = ['sh']): Launcher {
  let err = ''
  const proc = spawn(shell[0]!, [...shell.slice(1), LAUNCHER], {
    // No DISPLAY: the 403 message goes to stderr only. No config file: the environment decides.
    env: { PATH: process.env.PATH!, HOME: dir, TMPDIR: dir, LABVIRT_CONF: '/dev/null', LABVIRT_URL: w.server.url, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  })
  proc.stderr!.on('data', (d) => (err += d))
  const launcher: Launcher = {
    proc,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode) return
      const exited = new Promise((r) => proc.once('exit', r))
      try {
        process.kill(-proc.pid!, 'SIGKILL')
      } catch {}
      await exited
    },
  }
  launchers.push(launcher)
  return launcher
}

/** The argv files the fake client wrote, oldest first, each as its argv. */
async function recordedArgvs(): Promise<string[][]> {
  const files = (await readdir(dir)).filter((f) => /^argv\.\d+$/.test(f))
  const out: { pid: number; argv: string[] }[] = []
  for (const f of files) out.push({ pid: Number(f.slice(5)), argv: (await readFile(join(dir, f), 'utf8')).replace(/\0$/, '').split('\0') })
  return out.sort((a, b) => a.pid - b.pid).map((x) => x.argv)
}

/** The launcher's heartbeat as the server stored it (no admin API shows it): `heartbeats:<terminal>`. */
async function storedHeartbeat(terminal: string): Promise<{ state: string; seat?: string; at: string } | null> {
  return JSON.parse(await readFile(join(w.server.dataDir, 'store/heartbeats', terminal), 'utf8').catch(() => 'null'))
}

/** What GET /api/terminal answers this MAC directly, as the launcher asks it (or as JSON). */
async function ask(mac: string, accept = 'text/plain', lang = 'es') {
  const res = await fetch(`${w.server.url}/api/terminal?mac=${mac}`, { headers: { accept, 'accept-language': lang } })
  return { status: res.status, text: await res.text() }
}

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1

describe('the terminal launcher', () => {
  it('waits on 503, then runs the exact command line it was given and sends heartbeats', async () => {
    // A lab with no seat yet: every answer is 503 until it grows.
    const { lab } = await makeLab(w.api, 0, 'tl')
    const client = await create(w.api, 'clients', {
      name: uniqueName('tlc'),
      program: join(dir, 'fake-client'),
      args: ['/v:%HOST%:%PORT%', '/u:%USER%', 'seat=%SEAT% lab=%LAB% terminal=%TERMINAL%', TRICKY, ''],
    })
    const mac = '52:54:00:4c:00:01'
    const terminal = await create(w.api, 'terminals', { name: uniqueName('tlt'), mac, lab: lab.id, client: client.id, params: { USER } })

    const waiting = await ask(mac)
    expect(waiting.status).toBe(503)
    const message = waiting.text.trim()
    expect(message).not.toBe('')

    const l = launch({ LABVIRT_MAC: mac, LABVIRT_HEARTBEAT: '1', LABVIRT_RETRY_MAX: '2', LANG: 'es_ES.UTF-8' })
    // The launcher shows the server's own message each time it is told to wait (Retry-After: 5 s).
    await waitFor('two 503 answers logged by the launcher', 30_000, async (see) => {
      see(l.stderr())
      return count(l.stderr(), message) >= 2
    }, 200)
    expect(await recordedArgvs()).toEqual([])

    await setLabSize(w.api, lab.id, 1)
    const [argv] = await waitFor('the fake client started', 60_000, async (see) => {
      see(l.stderr())
      const a = await recordedArgvs()
      return a.length > 0 && a
    }, 200)

    // Exactly the argv the server means, compared with its JSON answer.
    const answer = await ask(mac, 'application/json')
    expect(answer.status).toBe(200)
    const json = JSON.parse(answer.text)
    expect(json.terminal).toBe(terminal.id)
    expect(json.seat).toBe(`${lab.id}-1`)
    expect(argv).toEqual([json.program, ...json.argv])
    expect(argv).toEqual([
      join(dir, 'fake-client'),
      `/v:${json.host}:${json.port}`,
      `/u:${USER}`,
      `seat=${lab.id}-1 lab=${lab.id} terminal=${terminal.id}`,
      TRICKY,
      '',
    ])

    // Heartbeats every second while the client runs: "connected" to its seat, and refreshed.
    const first = await waitFor('a connected heartbeat', 10_000, async (see) => {
      const b = await storedHeartbeat(terminal.id)
      see(b)
      return b?.state === 'connected' && b
    })
    expect(first.seat).toBe(`${lab.id}-1`)
    await waitFor('a later heartbeat', 10_000, async (see) => {
      const b = await storedHeartbeat(terminal.id)
      see(b)
      return b?.state === 'connected' && Date.parse(b.at) > Date.parse(first.at)
    })

    // The client ends: the launcher says idle at once.
    await writeFile(join(dir, 'quit'), '')
    await waitFor('an idle heartbeat', 10_000, async (see) => {
      const b = await storedHeartbeat(terminal.id)
      see(b)
      return b?.state === 'idle'
    })
    await l.stop()
    await rm(join(dir, 'quit'))
  }, 180_000)

  it('shows an unknown terminal the server\'s 403 message, which lists it as pending (busybox sh)', async () => {
    const mac = '52:54:00:4c:00:99'
    const l = launch({ LABVIRT_MAC: mac, LANG: 'es_ES.UTF-8' }, ['busybox', 'sh'])
    const pending = await waitFor('the terminal pending', 15_000, async (see) => {
      const res = await w.api.get('/api/pending-terminals')
      see(res)
      return res.status === 200 && (res.body as { mac?: string; ip: string }[]).find((p) => p.mac === mac)
    })
    expect(pending.ip).toBe('127.0.0.1')
    // The very text the server answers this terminal, in its language.
    const refused = await ask(mac)
    expect(refused.status).toBe(403)
    expect(refused.text.trim()).not.toBe('')
    await waitFor('the 403 message on stderr', 15_000, async (see) => {
      see(l.stderr())
      return l.stderr().includes(refused.text.trim())
    })
  }, 60_000)
})
