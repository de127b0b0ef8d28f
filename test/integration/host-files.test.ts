import { rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// Host files: a symlink in the images directory never gets a host file into qemu-img or a VM, and
// what qemu-img and QEMU say about files reaches callers with file names, not host paths.

let server: TestServer
let admin: ApiClient
let imagesDir: string

beforeAll(async () => {
  server = await startServer({ LABVIRT_RECONCILE_INTERVAL: '1' }, { vms: true })
  admin = await adminClient(server.url)
  imagesDir = join(server.dataDir, 'images')
})

afterAll(async () => {
  await server?.dispose()
})

async function image() {
  const res = await admin.post('/api/images', bodies.image())
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body as { id: string; file: string }
}

/** An image whose file is then replaced by `replace` (a symlink or other bytes). */
async function imageReplacedBy(replace: (path: string) => Promise<void>) {
  const img = await image()
  const path = join(imagesDir, img.file)
  await rm(path)
  await replace(path)
  return img
}

async function failedSeat(imageId: string) {
  const profile = await admin.post('/api/profiles', bodies.profile(imageId))
  expect(profile.status, JSON.stringify(profile.body)).toBe(201)
  const lab = await admin.post('/api/labs', { ...bodies.lab(profile.body.id), size: 1 })
  expect(lab.status, JSON.stringify(lab.body)).toBe(201)
  const id = `${lab.body.id}-1`
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const vm = (await admin.get(`/api/vms/${id}`)).body
    if (vm?.state === 'failed' && vm.error) return vm as { error: string; pid?: number }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${id} did not fail`)
}

describe('a symlink out of the images directory', () => {
  it('is refused as a one-off VM CD-ROM, and nothing is created', async () => {
    const profile = await admin.post('/api/profiles', bodies.profile((await image()).id))
    await symlink('/etc/passwd', join(imagesDir, 'passwd.iso'))
    const name = uniqueName('man')
    const res = await admin.post('/api/vms', { name, profile: profile.body.id, cdrom: 'passwd.iso', boot: 'd', snapshot: false })
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    expect(res.body.fields).toEqual([{ field: 'cdrom', message: '"passwd.iso" is not a regular file of the images directory' }])
    expect((await admin.get(`/api/vms/${name}`)).status).toBe(404)
  })

  it('as an image file is never opened by qemu-img: the image reads as missing', async () => {
    const img = await imageReplacedBy((p) => symlink('/etc/shadow', p))
    const res = await admin.get(`/api/images/${img.id}`)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.missing).toBe(true)
  })

  it('as a disk keeps its seat from starting, naming the file only', async () => {
    const img = await imageReplacedBy((p) => symlink('/etc/passwd', p))
    const vm = await failedSeat(img.id)
    expect(vm.error).toBe(`Image file ${img.file} is not a regular file of the images directory`)
    expect(vm.pid).toBeUndefined()
  })

  it('a directory or a link to one is refused too', async () => {
    const img = await imageReplacedBy((p) => symlink(imagesDir, p))
    expect((await admin.get(`/api/images/${img.id}`)).body.missing).toBe(true)
  })
})

describe('errors about files', () => {
  // A qcow2 header with a version no QEMU knows: qemu-img and QEMU both refuse to open it.
  const broken = (p: string) => writeFile(p, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.from([0, 0, 0, 99]), Buffer.alloc(504)]))

  it('from qemu-img name the file, not its host path', async () => {
    const img = await imageReplacedBy(broken)
    const res = await admin.get(`/api/images/${img.id}`)
    expect(res.status, JSON.stringify(res.body)).toBe(503)
    expect(res.body.message).toContain(img.file)
    expect(res.body.message).not.toContain(server.dataDir)
    expect(server.output()).toContain(join(imagesDir, img.file))
  })

  it('from QEMU name the file, not its host path', async () => {
    const img = await imageReplacedBy(broken)
    const vm = await failedSeat(img.id)
    expect(vm.error).toContain(img.file)
    expect(vm.error).not.toContain(server.dataDir)
    expect(server.output()).toContain(join(imagesDir, img.file))
  })
})
