import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient } from '../helpers/client'
import { bodies, create } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// What LabVirt and its QEMUs create is readable by their user only: a fresh data dir is 0700, the
// store's records, the images and QEMU's logs 0600, and the QMP and VNC sockets srw-------.

let parent: string
let server: TestServer
let seat: string

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'labvirt-modes-'))
  server = await startServer({ LABVIRT_DATA_DIR: join(parent, 'fresh') }, { vms: true })
  const api = await adminClient(server.url)
  const image = await create(api, 'images', bodies.image())
  const profile = await create(api, 'profiles', bodies.profile(image.id))
  const lab = await create(api, 'labs', { ...bodies.lab(profile.id), size: 1, max: 1 })
  seat = `${lab.id}-1`
  const deadline = Date.now() + 60_000
  while ((await api.get(`/api/vms/${seat}`)).body?.state !== 'running') {
    if (Date.now() > deadline) throw new Error(`${seat} did not start:\n${server.output()}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}, 90_000)

afterAll(async () => {
  await server?.dispose()
  await rm(parent, { recursive: true, force: true })
})

const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8)

/** Every file under `dir`, recursively. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await files(p)))
    else out.push(p)
  }
  return out
}

describe('file modes', () => {
  it('the fresh data dir and the dirs in it are 0700', async () => {
    expect(await mode(server.dataDir)).toBe('700')
    for (const d of ['run', 'images', 'store']) expect(await mode(join(server.dataDir, d)), d).toBe('700')
  })

  it("a seat's QMP and VNC sockets are srw------- and its QEMU log is 0600", async () => {
    const run = join(server.dataDir, 'run')
    for (const f of [`${seat}.qmp`, `${seat}.vnc`]) {
      const s = await stat(join(run, f))
      expect(s.isSocket(), f).toBe(true)
      expect((s.mode & 0o777).toString(8), f).toBe('600')
    }
    expect(await mode(join(run, `${seat}.log`))).toBe('600')
  })

  it('no file in the data dir is readable by group or others', async () => {
    const open = []
    for (const f of await files(server.dataDir)) if ((await stat(f)).mode & 0o077) open.push(`${f} ${await mode(f)}`)
    expect(open).toEqual([])
  })
})
