import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { resolve } from 'node:path'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'
import { adminClient } from '../helpers/client'
import { createLabSet, uniqueName, type LabSet } from '../helpers/fixtures'

// The admin's pending-terminal workflow through `labvirt terminal ...`, against a built server.
// Terminals ask from their own loopback addresses (any 127/8 address is this host's on Linux) with
// curl, as the launcher does; the server tells them apart by source address.

const CLI = resolve(__dirname, '../../bin/labvirt.mjs')
const MAC = '52:54:00:c1:17:01'

describe('labvirt terminal', () => {
  let server: TestServer
  let set: LabSet
  const run = (args: string[], env: Record<string, string> = {}) =>
    execa(CLI, args, { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C', ...env } })
  /** The status GET /api/terminal answers a terminal at `from`. */
  const ask = async (from: string, query = '') =>
    Number((await execa('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--interface', from, `${server.url}/api/terminal${query}`])).stdout)
  const pendingIds = async () => (JSON.parse((await run(['terminal', 'pending', '--json'])).stdout) as { id: string }[]).map((p) => p.id)

  beforeAll(async () => {
    server = await startServer()
    set = await createLabSet(await adminClient(server.url), 'cli')
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it('lists the unknown terminals that asked, by address or by MAC', async () => {
    expect(await ask('127.0.0.51')).toBe(403)
    expect(await ask('127.0.0.52')).toBe(403)
    expect(await ask('127.0.0.53', `?mac=${MAC}`)).toBe(403)
    const r = await run(['terminal', 'pending'])
    expect(r.exitCode, r.stderr).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toMatch(/^ID\s+IP\s+MAC\s+FIRST SEEN\s+LAST SEEN$/)
    const stamp = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(String.raw`^127-0-0-51\s+127\.0\.0\.51\s+${stamp}\s+${stamp}$`)))
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(String.raw`^52-54-00-c1-17-01\s+127\.0\.0\.53\s+${MAC}\s+${stamp}\s+${stamp}$`)))
  })

  it('adopt makes one a terminal of a lab, with repeated --param; the terminal then gets past 403', async () => {
    const name = uniqueName('pc')
    const r = await run(['terminal', 'adopt', '127-0-0-51', '--name', name, '--lab', set.lab.id, '--client', set.client.id, '--param', 'USER=ana', '--param', 'GREETING=a b=c, d'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(`Adopted 127.0.0.51 as terminal ${name} of lab ${set.lab.id}`)

    const lines = (await run(['terminal', 'list'])).stdout.split('\n')
    expect(lines[0]).toMatch(/^NAME\s+IP\s+MAC\s+LAB\s+SEAT\s+CLIENT$/)
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${name}\\s+127\\.0\\.0\\.51\\s+${set.lab.id}\\s+${set.client.id}$`)))
    const adopted = (JSON.parse((await run(['terminal', 'list', '--json'])).stdout) as { id: string; params: unknown }[]).find((x) => x.id === name)
    expect(adopted?.params).toEqual({ USER: 'ana', GREETING: 'a b=c, d' })

    expect(await pendingIds()).not.toContain('127-0-0-51')
    // Known now: no seat runs in this VM-less server, so "not ready" (503), or a seat (200).
    expect([200, 503]).toContain(await ask('127.0.0.51'))
  })

  it('forget drops a pending terminal and leaves the others', async () => {
    const r = await run(['terminal', 'forget', '52-54-00-c1-17-01'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('Forgot pending terminal 52-54-00-c1-17-01')
    const ids = await pendingIds()
    expect(ids).not.toContain('52-54-00-c1-17-01')
    expect(ids).toContain('127-0-0-52')
    const again = await run(['terminal', 'forget', '52-54-00-c1-17-01'])
    expect(again.exitCode).toBe(1)
    expect(again.stderr).toContain('52-54-00-c1-17-01')
  })

  it('a bad adopt says which field is wrong, exits non-zero and keeps the terminal pending', async () => {
    const r = await run(['terminal', 'adopt', '127-0-0-52', '--name', uniqueName('pc'), '--lab', 'nope'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('lab: No lab named "nope"')
    const noValue = await run(['terminal', 'adopt', '127-0-0-52', '--name', uniqueName('pc'), '--lab', set.lab.id, '--param', 'USER'])
    expect(noValue.exitCode).toBe(1)
    expect(noValue.stderr).toContain('--param takes KEY=VALUE, not "USER"')
    expect(await pendingIds()).toContain('127-0-0-52')
  })

  it('speaks the language of LANG', async () => {
    const env = { LANG: 'es_ES.UTF-8' }
    const head = (await run(['terminal', 'list'], env)).stdout.split('\n')[0]
    expect(head).toMatch(/^NOMBRE\s+IP\s+MAC\s+LABORATORIO\s+PUESTO\s+CLIENTE$/)
    const bad = await run(['terminal', 'adopt', '127-0-0-52', '--name', uniqueName('pc'), '--lab', 'nope'], env)
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toContain('lab: No se encontró «nope»')
  })
})
