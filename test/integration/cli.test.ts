import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { resolve } from 'node:path'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'
import { adminClient } from '../helpers/client'
import { acrossPasses } from './vms/vm-helpers'

const CLI = resolve(__dirname, '../../bin/labvirt.mjs')

describe('labvirt CLI', () => {
  let server: TestServer
  const run = (args: string[], env: Record<string, string> = {}) =>
    execa(CLI, args, { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C', ...env } })

  async function until(check: () => Promise<boolean>, what: string, ms = 20_000) {
    const deadline = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  beforeAll(async () => {
    server = await startServer({ LABVIRT_RECONCILE_INTERVAL: '1', LABVIRT_POWERDOWN_TIMEOUT: '1' }, { vms: true })
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it('demo creates a 2-seat lab whose seats run, and is idempotent', async () => {
    const first = await run(['demo'])
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.stdout).toContain('Demo lab ready')
    expect((await run(['demo'])).exitCode).toBe(0)
    await until(async () => {
      const list = await run(['vm', 'list', '--json'])
      const vms = JSON.parse(list.stdout) as { id: string; state: string }[]
      return vms.filter((v) => v.id.startsWith('demo-') && v.state === 'running').length === 2
    }, 'demo-1 and demo-2 running')
    const table = (await run(['vm', 'list'])).stdout.split('\n')
    expect(table[0]).toMatch(/^NAME\s+STATE\s+PID\s+LAB\s+PROFILE\s+ERROR$/)
    expect(table.filter((l) => /^demo-[12]\s+running\s+\d+\s+demo\s+demo/.test(l))).toHaveLength(2)
  })

  it('stop holds a seat down; start brings it back', async () => {
    const stop = await run(['vm', 'stop', 'demo-2'])
    expect(stop.exitCode, stop.stderr).toBe(0)
    const list = async () => JSON.parse((await run(['vm', 'list', '--json'])).stdout) as { id: string; state: string; held: boolean }[]
    await until(async () => (await list()).some((v) => v.id === 'demo-2' && v.state === 'stopped' && v.held), 'demo-2 held down')
    await acrossPasses(server, 2, async () => {
      expect((await list()).find((v) => v.id === 'demo-2')).toMatchObject({ state: 'stopped', held: true })
    })
    expect((await run(['vm', 'start', 'demo-2'])).exitCode).toBe(0)
    await until(async () => (await list()).some((v) => v.id === 'demo-2' && v.state === 'running'), 'demo-2 running again')
  })

  it('acts on every VM named, reports each, and fails if any failed', async () => {
    const stop = await run(['vm', 'stop', 'no-such-1', 'demo-1', 'no-such-2'])
    expect(stop.exitCode).toBe(1)
    // The first failure does not stop the batch: demo-1, after it, was stopped.
    expect(stop.stdout.trim()).toBe('demo-1: stopped')
    const failed = stop.stderr.trim().split('\n')
    expect(failed).toHaveLength(2)
    expect(failed[0]).toMatch(/^no-such-1: .*no-such-1/)
    expect(failed[1]).toMatch(/^no-such-2: .*no-such-2/)
    const start = await run(['vm', 'start', 'demo-1', 'demo-2'])
    expect(start.exitCode, start.stderr).toBe(0)
    expect(start.stdout.split('\n').map((l) => l.split(':')[0])).toEqual(['demo-1', 'demo-2'])
  })

  it('launch runs a one-off writable VM of a profile, shown like any other', async () => {
    // Its own disk: a writable VM cannot share the demo seats' image (QEMU's image lock).
    const admin = await adminClient(server.url)
    expect((await admin.post('/api/images', { name: 'blank', sizeMiB: 16 })).status).toBe(201)
    expect((await admin.post('/api/profiles', { name: 'install', memoryMiB: 64, disks: [{ image: 'blank' }] })).status).toBe(201)
    const r = await run(['launch', '--profile', 'install', '--name', 'scratch'])
    expect(r.exitCode, r.stderr).toBe(0)
    await until(async () => {
      const vms = JSON.parse((await run(['vm', 'list', '--json'])).stdout) as { id: string; kind: string; state: string }[]
      return vms.some((v) => v.id === 'scratch' && v.kind === 'manual' && v.state === 'running')
    }, 'scratch running')
  })

  it('a profile a one-off VM runs cannot be deleted', async () => {
    const admin = await adminClient(server.url)
    const res = await admin.delete('/api/profiles/install')
    expect(res.status).toBe(409)
    expect(res.body.usedBy).toEqual({ VMs: ['scratch'] })
  })

  it('says what is wrong, in the language of LANG, and exits non-zero', async () => {
    const bad = await run(['launch', '--profile', 'nope'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toContain('profile: No profile named "nope"')
    const esList = (await run(['vm', 'list'], { LANG: 'es_ES.UTF-8' })).stdout.split('\n')
    expect(esList[0]).toMatch(/^NOMBRE\s+ESTADO\s+PID\s+LABORATORIO\s+PERFIL\s+ERROR$/)
    expect(esList.some((l) => /^demo-1\s+en marcha\s+\d+/.test(l))).toBe(true)
    const es = await run(['launch', '--profile', 'nope'], { LANG: 'es_ES.UTF-8' })
    expect(es.stderr).toContain('profile: ')
    expect(es.stderr).not.toContain('No profile named')
    const noPassword = await run(['vm', 'list'], { LABVIRT_PASSWORD: '', LABVIRT_ADMIN_PASSWORD: '' })
    expect(noPassword.exitCode).toBe(1)
    expect(noPassword.stderr).toContain('LABVIRT_PASSWORD')
  })
})
