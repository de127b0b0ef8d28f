import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { create, uniqueName } from '../../helpers/fixtures'
import { brief, getVm, hmp, listVms, seatsOf, startVmServer, toolQmp, type VmWorld, waitFor } from '../vms/vm-helpers'

// User-mode labs: each gets a block of host ports from LABVIRT_FORWARD_PORTS (the test server's
// own block), and seat n listens on LABVIRT_FORWARD_ADDRESS at hostPort + n - 1.

let w: VmWorld
let from: number
let to: number
let profile: string

beforeAll(async () => {
  w = await startVmServer()
  ;[from, to] = w.server.env.LABVIRT_FORWARD_PORTS!.split('-').map(Number) as [number, number]
  const image = await create(w.api, 'images', { name: uniqueName('ni'), sizeMiB: 16 })
  profile = (await create(w.api, 'profiles', { name: uniqueName('np'), memoryMiB: 64, cpus: 1, disks: [{ image: image.id }] })).id
})
afterAll(async () => {
  await w?.dispose()
})

const lab = (max: number, network: Record<string, unknown> = { mode: 'user' }, size = 0) => ({ name: uniqueName('nl'), size, max, profiles: [profile], network })
const labs: string[] = []
async function newLab(body: ReturnType<typeof lab>) {
  const res = await w.api.post('/api/labs', body)
  if (res.status === 201) labs.push(res.body.id)
  return res
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

describe('host port blocks of user-mode labs', () => {
  it('gives each lab the lowest free block of max ports, kept across updates and shown in the record', async () => {
    const a = await newLab(lab(4))
    const b = await newLab(lab(3))
    expect(a.body.network).toEqual({ mode: 'user', hostPort: from })
    expect(b.body.network).toEqual({ mode: 'user', hostPort: from + 4 })
    // An update that does not name the port keeps it.
    const put = await w.api.put(`/api/labs/${a.body.id}`, { ...a.body, description: 'changed', network: { mode: 'user' } })
    expect(put.status).toBe(200)
    expect(put.body.network.hostPort).toBe(from)
    expect((await w.api.get(`/api/labs/${a.body.id}`)).body.network.hostPort).toBe(from)
  })

  it('refuses an explicit block that overlaps another lab\'s with 409 naming it, and rechecks on update', async () => {
    const owner = await newLab(lab(2, { mode: 'user', hostPort: from + 200 }))
    expect(owner.status).toBe(201)
    const clash = await newLab(lab(5, { mode: 'user', hostPort: from + 197 }))
    expect(clash.status).toBe(409)
    expect(clash.body.message).toBe(`The host ports ${from + 197}-${from + 201} overlap those of lab "${owner.body.id}"`)
    const side = await newLab(lab(3, { mode: 'user', hostPort: from + 196 }))
    expect(side.status, JSON.stringify(side.body)).toBe(201)
    // Growing into the neighbour's block with the port kept is refused; without it, the lab moves.
    const grown = await w.api.put(`/api/labs/${side.body.id}`, { ...side.body, max: 5 })
    expect(grown.status).toBe(409)
    expect(grown.body.message).toContain(`lab "${owner.body.id}"`)
    const moved = await w.api.put(`/api/labs/${side.body.id}`, { ...side.body, max: 5, network: { mode: 'user' } })
    expect(moved.status).toBe(200)
    expect(moved.body.network.hostPort).toBeGreaterThanOrEqual(from + 7)
    // A bridge lab switched to user mode gets a block too.
    const br = await newLab(lab(2, { mode: 'bridge', bridge: 'br9' }))
    expect(br.body.network).toEqual({ mode: 'bridge', bridge: 'br9' })
    const sw = await w.api.put(`/api/labs/${br.body.id}`, { ...br.body, network: { mode: 'user' } })
    expect(sw.status).toBe(200)
    expect(sw.body.network.hostPort).toBeGreaterThanOrEqual(from)
    // Past the last port: a 400 on the field.
    const past = await newLab(lab(4, { mode: 'user', hostPort: 65534 }))
    expect(past.status).toBe(400)
    expect(past.body.fields.map((f: { field: string }) => f.field)).toEqual(['network.hostPort'])
  })

  it('never gives two labs created at once overlapping blocks', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => newLab(lab(2 + (i % 3)))))
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201))
    const all = (await w.api.get('/api/labs')).body.filter((l: any) => l.network.mode === 'user')
    const blocks: [number, number][] = all.map((l: any) => [l.network.hostPort, l.network.hostPort + l.max - 1]).sort((x: any, y: any) => x[0] - y[0])
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]![0], JSON.stringify(blocks)).toBeGreaterThan(blocks[i - 1]![1])
    for (const [a, b] of blocks) expect(a >= from && b <= to, JSON.stringify(blocks)).toBe(true)
  })

  it('says so when the range has no room left', async () => {
    // The server's range is 500 ports: a third block of 250 never fits.
    let res = await newLab(lab(250))
    for (let i = 0; i < 2 && res.status === 201; i++) res = await newLab(lab(250))
    expect(res.status).toBe(409)
    expect(res.body.message).toBe(`No 250 free consecutive host ports are left in LABVIRT_FORWARD_PORTS (${from}-${to})`)
  })
})

describe('a user-mode seat', () => {
  it('listens on the forward address at hostPort + n - 1, forwarded to the lab\'s service port', async () => {
    const res = await newLab(lab(3, { mode: 'user', port: 5900 }, 2))
    expect(res.status).toBe(201)
    const { id, network } = res.body
    const seats = await waitFor('both seats running', 60_000, async (see) => {
      const vms = seatsOf(await listVms(w.api), id)
      see(brief(vms))
      return vms.length === 2 && vms.every((v) => v.state === 'running') && vms
    }, 200)
    for (const seat of seats) {
      const port = network.hostPort + seat.seat! - 1
      const q = await toolQmp(w.runDir, seat.id)
      try {
        expect(await hmp(q, 'info usernet')).toMatch(new RegExp(`TCP\\[HOST_FORWARD\\]\\s+\\d+\\s+127\\.0\\.0\\.1\\s+${port}\\s+10\\.0\\.2\\.15\\s+5900`))
      } finally {
        q.close()
      }
      // slirp accepts on the host side before it knows whether the guest answers.
      expect(await accepts(port), `127.0.0.1:${port}`).toBe(true)
    }
    expect(await accepts(network.hostPort + 2), 'seat 3 is not running').toBe(false)
    expect((await getVm(w.api, `${id}-1`))?.error).toBeUndefined()
  })
})
