import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../../helpers/client'
import { echo, freePort } from '../../helpers/ports'
import { startServer, type TestServer } from '../../helpers/server'
import { StreamReader } from '../../helpers/stream'
import { TINY_GUEST_MIB, tinyGuest } from '../../helpers/tiny-guest'
import { brief, hmp, listVms, seatsOf, startVmServer, toolQmp, type VmWorld, waitFor } from '../vms/vm-helpers'

// POST /api/demo (the console's one-click demo and `labvirt demo`) on a fresh server: the demo's
// seats run the real tiny Linux guest, which shows a banner naming the seat on its screen and
// answers on the seat's forwarded port; when the guest cannot be built, a blank disk, said so.

/** The text on a VM's VGA text screen (the whole 32 KiB text buffer, character bytes only). */
async function screenText(w: VmWorld, id: string): Promise<string> {
  const q = await toolQmp(w.runDir, id)
  try {
    const dump = await hmp(q, 'xp /16384hx 0xb8000')
    return [...dump.matchAll(/0x([0-9a-f]{4})/g)].map((m) => String.fromCharCode(parseInt(m[1]!, 16) & 0xff)).join('')
  } finally {
    q.close()
  }
}

describe('the demo on a fresh server', () => {
  let w: VmWorld
  afterAll(() => w?.dispose())

  it('boots two seats of the tiny Linux guest that show their name on screen and answer on their ports; a second call changes nothing', { timeout: 240_000 }, async () => {
    // The guest the tests share (built here if this machine has none yet): the demo takes it from this cache.
    await tinyGuest()
    w = await startVmServer()
    const started = performance.now()
    const res = await w.api.post('/api/demo')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ lab: 'demo', created: ['image', 'profile', 'lab'], disk: 'tiny-guest' })
    console.log(`[measure] POST /api/demo with the guest cached: ${Math.round(performance.now() - started)} ms`)

    const image = (await w.api.get('/api/images/demo')).body
    expect(image).toMatchObject({ format: 'qcow2', virtualSize: 32 * 1024 * 1024, description: expect.stringMatching(/tiny Linux guest \(linux-image-.*-cloud-amd64/) })
    // Its port echoes (no RDP): ready once bytes come back.
    expect((await w.api.get('/api/profiles/demo')).body).toMatchObject({ memoryMiB: TINY_GUEST_MIB, nic: 'virtio', disks: [{ image: 'demo', bus: 'virtio' }], probe: 'tcp' })
    const lab = (await w.api.get('/api/labs/demo')).body
    expect(lab).toMatchObject({ size: 2, network: { mode: 'user', hostPort: expect.any(Number) } })

    await waitFor('demo-1 and demo-2 running', 60_000, async (see) => {
      const seats = seatsOf(await listVms(w.api), 'demo')
      see(brief(seats))
      return seats.length === 2 && seats.every((s) => s.state === 'running')
    })
    // Seat n answers on hostPort + n - 1: an echo proves the guest booted and serves, not just slirp.
    // Two guests booting at once under TCG on two shared cores: up to a minute or more.
    for (const [i, id] of ['demo-1', 'demo-2'].entries()) {
      const port = lab.network.hostPort + i
      await waitFor(`an echo from ${id} on port ${port}`, 150_000, async (see) => {
        const got = await echo(port, `hello ${id}`)
        see(got)
        return got === `hello ${id}\n`
      }, 500)
      // What the console shows: the guest's banner, with the seat's name from user-mode DHCP.
      await waitFor(`${id}'s banner on its screen`, 20_000, async (see) => {
        const text = await screenText(w, id)
        see(text.replace(/\s+/g, ' ').trim().slice(-300))
        return text.includes(`LabVirt demo seat ${id}`)
      }, 500)
    }
    console.log(`[measure] POST /api/demo -> both seats echo: ${Math.round(performance.now() - started)} ms`)
    // And LabVirt's probes see them ready: a terminal of the demo lab would get a seat.
    await waitFor('demo-1 and demo-2 ready', 10_000, async (see) => {
      const seats = seatsOf(await listVms(w.api), 'demo')
      see(seats.map((s) => `${s.id}:${s.state}${s.ready ? ' ready' : ''}`))
      return seats.length === 2 && seats.every((s) => s.ready)
    }, 200)

    const again = await w.api.post('/api/demo')
    expect(again.status).toBe(200)
    expect(again.body).toEqual({ lab: 'demo', created: [] })
  })
})

describe('the demo where the tiny guest cannot be built', () => {
  let server: TestServer
  let dir: string
  afterAll(async () => {
    await server?.dispose()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('makes a blank disk and says why, in the answer (in the caller\'s language) and in the event log', { timeout: 120_000 }, async () => {
    // No guest in its cache, and apt pointed at a Debian mirror nobody serves (a closed loopback port).
    dir = await mkdtemp(join(tmpdir(), 'labvirt-demo-nomirror-'))
    await mkdir(join(dir, 'lists/partial'), { recursive: true })
    await mkdir(join(dir, 'apt-cache'))
    await writeFile(join(dir, 'sources.list'), `deb http://127.0.0.1:${await freePort()}/debian bookworm main\n`)
    await writeFile(join(dir, 'apt.conf'), [
      `Dir::Etc::SourceList "${dir}/sources.list";`,
      `Dir::Etc::SourceParts "${dir}/none";`,
      `Dir::State::Lists "${dir}/lists";`,
      `Dir::Cache "${dir}/apt-cache";`,
      // Fail at once rather than retry the closed port.
      'Acquire::Retries "0";',
      '',
    ].join('\n'))
    server = await startServer({ LABVIRT_CACHE_DIR: join(dir, 'cache'), APT_CONFIG: join(dir, 'apt.conf') })
    const api: ApiClient = await adminClient(server.url)
    api.lang = 'es'
    const { reader: live } = await StreamReader.open(server.url, api.cookie, 'es')
    await live!.next('the first VMs', (e) => e.event === 'vms')

    const res = await api.post('/api/demo')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ lab: 'demo', created: ['image', 'profile', 'lab'], disk: 'blank' })
    expect(res.body.warning).toMatch(/^El disco de la demostración está vacío .*no se ha podido construir el Linux mínimo: apt-get download linux-image-\S+ failed: E: Unable to locate package/)
    expect(res.body.warning).toContain('127.0.0.1')
    expect((await api.get('/api/images/demo')).body).toMatchObject({ format: 'qcow2', virtualSize: 64 * 1024 * 1024, description: 'LabVirt demo disk (blank)' })
    // The lab is there all the same: its seats start (and boot nothing).
    expect((await api.get('/api/labs/demo')).body).toMatchObject({ size: 2, profiles: ['demo'] })

    api.lang = 'en'
    const events = (await api.get('/api/events?limit=20')).body as { action: string; kind: string; id: string; actor: string; message?: string }[]
    expect(events.find((e) => e.action === 'blank-disk')).toMatchObject({
      kind: 'image',
      id: 'demo',
      actor: 'admin',
      message: expect.stringMatching(/^The demo disk is blank \(its seats start but boot nothing\): the tiny Linux guest could not be built: apt-get download/),
    })
    // The console's live log gets it too, in its reader's language.
    const streamed = await live!.next('the blank-disk event on the stream', (e) => e.event === 'event' && e.data.action === 'blank-disk')
    expect(streamed.data.message).toMatch(/^El disco de la demostración está vacío/)
    live!.close()
    expect(server.output()).toMatch(/\[labvirt\] demo: blank disk, the tiny guest could not be built: apt-get download/)
  })
})
