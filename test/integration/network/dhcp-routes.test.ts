import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient, adminClient } from '../../helpers/client'
import { create, uniqueName } from '../../helpers/fixtures'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../../helpers/server'

const CLI = resolve(__dirname, '../../../bin/labvirt.mjs')

let server: TestServer
let api: ApiClient
let lab: string
let pc: string

beforeAll(async () => {
  server = await startServer()
  api = await adminClient(server.url)
  const image = await create(api, 'images', { name: uniqueName('di'), sizeMiB: 16 })
  const profile = await create(api, 'profiles', { name: uniqueName('dp'), memoryMiB: 64, disks: [{ image: image.id }] })
  lab = (await create(api, 'labs', { name: uniqueName('dl'), size: 1, max: 2, macBase: '52:54:00:aa:bb:00', ipBase: '10.0.0.10', profiles: [profile.id], network: { mode: 'bridge', bridge: 'br0' } })).id
  await create(api, 'labs', { name: uniqueName('dn'), size: 1, profiles: [profile.id] }) // no IP base: no reservations
  pc = (await create(api, 'terminals', { name: uniqueName('pc'), lab, ip: '10.0.1.5', mac: 'AA:BB:CC:DD:EE:05' })).id
  await create(api, 'terminals', { name: uniqueName('pc'), lab, ip: '10.0.1.6' }) // no MAC: none
})
afterAll(async () => {
  await server?.dispose()
})

const DNSMASQ = () => `52:54:00:aa:bb:01,10.0.0.11,${lab}-1\n52:54:00:aa:bb:02,10.0.0.12,${lab}-2\naa:bb:cc:dd:ee:05,10.0.1.5,${pc}\n`

describe('DHCP reservations', () => {
  it('GET /api/dhcp/dnsmasq is a dhcp-hostsfile of every seat up to max and every terminal with a MAC', async () => {
    const res = await api.get('/api/dhcp/dnsmasq')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(res.body).toBe(DNSMASQ())
  })

  it('GET /api/dhcp/dhcpd is the same as ISC dhcpd host blocks', async () => {
    const res = await api.get('/api/dhcp/dhcpd')
    expect(res.status).toBe(200)
    expect(res.body.split('\n')).toEqual([
      `host ${lab}-1 { hardware ethernet 52:54:00:aa:bb:01; fixed-address 10.0.0.11; option host-name "${lab}-1"; }`,
      `host ${lab}-2 { hardware ethernet 52:54:00:aa:bb:02; fixed-address 10.0.0.12; option host-name "${lab}-2"; }`,
      `host ${pc} { hardware ethernet aa:bb:cc:dd:ee:05; fixed-address 10.0.1.5; option host-name "${pc}"; }`,
      '',
    ])
  })

  it('needs a session', async () => {
    expect((await new ApiClient(server.url).get('/api/dhcp/dnsmasq')).status).toBe(401)
  })

  it('`labvirt dhcp dnsmasq` prints the file as is', async () => {
    const r = await execa(CLI, ['dhcp', 'dnsmasq'], { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C' } })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(`${r.stdout}\n`).toBe(DNSMASQ())
  })

  it('a server given a DHCP range it cannot use refuses to start, saying why', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'labvirt-test-'))
    try {
      await expect(startServer({ LABVIRT_DATA_DIR: dataDir, LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: '10.0.0.0/24' })).rejects.toThrow(
        /server exited \(1\)[^]*LABVIRT_DHCP_RANGE must be/,
      )
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
