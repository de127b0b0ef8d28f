import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiClient, adminClient } from '../helpers/client'
import { startServer, type TestServer } from '../helpers/server'

// The admin API for profiles, images, terminals, clients, users and the event log, exercised
// against the built server over HTTP, as a user (or the UI) would: status codes, bodies, and the
// image files on disk.

const MiB = 1024 * 1024

async function qemuImgInfo(path: string) {
  const { stdout } = await execa('qemu-img', ['info', '-U', '--output=json', path])
  return JSON.parse(stdout) as { format: string; 'virtual-size': number }
}

async function exists(path: string) {
  return stat(path).then(
    () => true,
    () => false,
  )
}

const fieldsOf = (body: { fields?: { field: string; message: string }[] }) => body.fields ?? []

let server: TestServer
let admin: ApiClient
const imageFile = (name: string) => join(server.dataDir, 'images', `${name}.qcow2`)

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
})

afterAll(async () => {
  await server?.dispose()
})

async function makeImage(name: string, sizeMiB = 16) {
  const res = await admin.post('/api/images', { name, sizeMiB })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

async function makeProfile(name: string, images: string[]) {
  const res = await admin.post('/api/profiles', { name, memoryMiB: 256, disks: images.map((image) => ({ image })) })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

async function makeLab(name: string, profiles: string[], extra: Record<string, unknown> = {}) {
  const res = await admin.post('/api/labs', { name, size: 2, profiles, ...extra })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

async function makeClient(name: string) {
  const res = await admin.post('/api/clients', { name, program: 'xfreerdp', args: ['/v:%HOST%:%PORT%', '/u:%USER%'] })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

describe('images', () => {
  it('creates a real blank qcow2 of the asked size under <data>/images', async () => {
    const res = await admin.post('/api/images', { name: 'win10', sizeMiB: 64, description: 'Windows 10 base' })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      id: 'win10',
      name: 'win10',
      description: 'Windows 10 base',
      file: 'win10.qcow2',
      format: 'qcow2',
      virtualSize: 64 * MiB,
      revision: 1,
    })
    expect(res.body.actualSize).toBeGreaterThan(0)
    const info = await qemuImgInfo(imageFile('win10'))
    expect(info.format).toBe('qcow2')
    expect(info['virtual-size']).toBe(64 * MiB)

    const one = await admin.get('/api/images/win10')
    expect(one.status).toBe(200)
    expect(one.body).toMatchObject({ id: 'win10', virtualSize: 64 * MiB })
    expect(one.body.missing).toBeUndefined()
    expect((await admin.get('/api/images')).body.map((i: { id: string }) => i.id)).toContain('win10')
  })

  it('refuses a duplicate name with 409 and leaves the existing file alone', async () => {
    await makeImage('dup', 32)
    const before = await stat(imageFile('dup'))
    const res = await admin.post('/api/images', { name: 'dup', sizeMiB: 8 })
    expect(res.status).toBe(409)
    expect(res.body.message).toContain('dup')
    const after = await stat(imageFile('dup'))
    expect(after.ino).toBe(before.ino)
    expect(after.mtimeMs).toBe(before.mtimeMs)
    expect((await qemuImgInfo(imageFile('dup')))['virtual-size']).toBe(32 * MiB)
  })

  it('never overwrites a file that is in the images directory without a record (409)', async () => {
    await mkdir(join(server.dataDir, 'images'), { recursive: true })
    await writeFile(imageFile('stray'), 'not ours')
    const res = await admin.post('/api/images', { name: 'stray', sizeMiB: 8 })
    expect(res.status).toBe(409)
    expect(res.body.message).toContain('stray.qcow2')
    expect(await readFile(imageFile('stray'), 'utf8')).toBe('not ours')
    expect((await admin.get('/api/images/stray')).status).toBe(404)
  })

  it('changes only the description on update, with revisions', async () => {
    const img = await makeImage('upd', 8)
    const res = await admin.put('/api/images/upd', { ...img, description: 'new text', virtualSize: 1, format: 'raw' })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ description: 'new text', virtualSize: 8 * MiB, format: 'qcow2', revision: 2 })
    // The same revision again is stale now.
    const stale = await admin.put('/api/images/upd', { ...img, description: 'other' })
    expect(stale.status).toBe(409)
    expect((await admin.get('/api/images/upd')).body.description).toBe('new text')
    const rename = await admin.put('/api/images/upd', { ...res.body, name: 'other' })
    expect(rename.status).toBe(409)
  })

  it('reports a record whose file is gone as missing instead of failing', async () => {
    await makeImage('gone', 8)
    await rm(imageFile('gone'))
    const res = await admin.get('/api/images/gone')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: 'gone', missing: true })
    // And it can still be deleted.
    expect((await admin.delete('/api/images/gone')).status).toBe(204)
  })

  it('deletes the record and the file', async () => {
    await makeImage('bye', 8)
    expect(await exists(imageFile('bye'))).toBe(true)
    const res = await admin.delete('/api/images/bye')
    expect(res.status).toBe(204)
    expect(await exists(imageFile('bye'))).toBe(false)
    expect((await admin.get('/api/images/bye')).status).toBe(404)
    expect((await admin.delete('/api/images/bye')).status).toBe(404)
  })

  it('honours ?revision= on delete', async () => {
    const img = await makeImage('rev', 8)
    await admin.put('/api/images/rev', { ...img, description: 'changed' })
    expect((await admin.delete('/api/images/rev?revision=1')).status).toBe(409)
    expect(await exists(imageFile('rev'))).toBe(true)
    expect((await admin.delete('/api/images/rev?revision=2')).status).toBe(204)
    expect(await exists(imageFile('rev'))).toBe(false)
  })

  it('refuses to delete an image a profile uses, naming the profile', async () => {
    await makeImage('base', 8)
    await makeProfile('uses-base', ['base'])
    const res = await admin.delete('/api/images/base')
    expect(res.status).toBe(409)
    expect(res.body.message).toContain('uses-base')
    expect(res.body.usedBy).toEqual({ profiles: ['uses-base'] })
    expect(await exists(imageFile('base'))).toBe(true)
    expect((await admin.get('/api/images/base')).status).toBe(200)
  })

  it('answers 503 when qemu-img fails, leaving no file and no record', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'labvirt-fake-qemu-img-'))
    // A qemu-img that writes half a file and then fails, as a full disk would.
    const fake = join(bin, 'qemu-img')
    await writeFile(fake, '#!/bin/sh\necho half > "$5"\necho "simulated failure" >&2\nexit 1\n')
    await chmod(fake, 0o755)
    const broken = await startServer({ LABVIRT_QEMU_IMG: fake })
    try {
      const client = await adminClient(broken.url)
      const res = await client.post('/api/images', { name: 'fails', sizeMiB: 8 })
      expect(res.status).toBe(503)
      expect(res.body.error).toBe('qemu_img_failed')
      expect(res.body.message).toContain('simulated failure')
      expect(await readdir(join(broken.dataDir, 'images'))).toEqual([])
      expect((await client.get('/api/images/fails')).status).toBe(404)
    } finally {
      await broken.dispose()
      await rm(bin, { recursive: true, force: true })
    }
  })
})

describe('profiles', () => {
  it('creates, reads, updates and deletes a profile with defaults filled in', async () => {
    await makeImage('p-sys', 8)
    const created = await makeProfile('office', ['p-sys'])
    expect(created).toMatchObject({
      id: 'office',
      memoryMiB: 256,
      cpus: 1,
      nic: 'virtio',
      active: true,
      disks: [{ image: 'p-sys', bus: 'ide', media: 'disk' }],
      revision: 1,
    })
    const updated = await admin.put('/api/profiles/office', { ...created, memoryMiB: 512, nic: 'e1000' })
    expect(updated.status).toBe(200)
    expect(updated.body).toMatchObject({ memoryMiB: 512, nic: 'e1000', revision: 2 })
    expect((await admin.put('/api/profiles/office', { ...created, cpus: 4 })).status).toBe(409)
    expect((await admin.get('/api/profiles/office')).body.cpus).toBe(1)
    expect((await admin.delete('/api/profiles/office')).status).toBe(204)
    expect((await admin.get('/api/profiles/office')).status).toBe(404)
  })

  it('refuses a disk whose image does not exist, naming the field', async () => {
    await makeImage('p-real', 8)
    const res = await admin.post('/api/profiles', {
      name: 'broken',
      memoryMiB: 256,
      disks: [{ image: 'p-real' }, { image: 'no-such-image' }],
    })
    expect(res.status).toBe(400)
    expect(fieldsOf(res.body)).toEqual([{ field: 'disks.1.image', message: 'No image named "no-such-image"' }])
    expect((await admin.get('/api/profiles/broken')).status).toBe(404)
  })

  it('refuses the same image twice in one profile', async () => {
    await makeImage('p-twice', 8)
    const res = await admin.post('/api/profiles', { name: 'twice', memoryMiB: 256, disks: [{ image: 'p-twice' }, { image: 'p-twice' }] })
    expect(res.status).toBe(400)
    expect(fieldsOf(res.body).map((f) => f.field)).toEqual(['disks.1.image'])
  })

  it('cannot be renamed', async () => {
    await makeImage('p-ren', 8)
    const p = await makeProfile('keepname', ['p-ren'])
    const res = await admin.put('/api/profiles/keepname', { ...p, name: 'newname' })
    expect(res.status).toBe(409)
    expect((await admin.get('/api/profiles/newname')).status).toBe(404)
  })

  it('refuses to delete a profile a lab uses, naming the lab', async () => {
    await makeImage('p-lab', 8)
    await makeProfile('in-use', ['p-lab'])
    await makeLab('room-a', ['in-use'])
    const res = await admin.delete('/api/profiles/in-use')
    expect(res.status).toBe(409)
    expect(res.body.message).toContain('room-a')
    expect(res.body.usedBy).toEqual({ labs: ['room-a'] })
    expect((await admin.get('/api/profiles/in-use')).status).toBe(200)
    // Once the lab is gone, so can the profile be.
    expect((await admin.delete('/api/labs/room-a')).status).toBe(204)
    expect((await admin.delete('/api/profiles/in-use')).status).toBe(204)
  })
})

describe('labs', () => {
  it('gives two labs created at once whose names hash alike two different MAC bases', async () => {
    // Two names whose default MAC base (from a hash of the name) is the same.
    const octets = (name: string) => createHash('sha256').update(name).digest().readUInt16BE(0)
    const seen = new Map<number, string>()
    let pair: [string, string] | undefined
    for (let i = 0; !pair; i++) {
      const name = `twin${i}`
      const o = octets(name)
      if (seen.has(o)) pair = [seen.get(o)!, name]
      else seen.set(o, name)
    }
    await makeImage('twin-img', 8)
    await makeProfile('twin-prof', ['twin-img'])
    const [a, b] = await Promise.all(pair.map((name) => admin.post('/api/labs', { name, size: 0, profiles: ['twin-prof'] })))
    expect([a!.status, b!.status]).toEqual([201, 201])
    expect(a!.body.macBase).not.toBe(b!.body.macBase)
  })
})

describe('terminals', () => {
  beforeAll(async () => {
    await makeImage('t-img', 8)
    await makeProfile('t-prof', ['t-img'])
    await makeLab('t-lab', ['t-prof'], { size: 2, max: 4 })
    await makeClient('t-rdp')
  })

  it('creates a terminal in a lab and reads it back', async () => {
    const res = await admin.post('/api/terminals', { name: 'pc01', ip: '10.1.0.11', mac: '00:11:22:33:44:01', lab: 't-lab', client: 't-rdp', seat: 4 })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ id: 'pc01', lab: 't-lab', client: 't-rdp', seat: 4, params: {} })
    expect((await admin.get('/api/terminals/pc01')).body.ip).toBe('10.1.0.11')
  })

  it('refuses a lab or client that does not exist (400 with the field)', async () => {
    const noLab = await admin.post('/api/terminals', { name: 'pc90', ip: '10.1.0.90', lab: 'no-lab' })
    expect(noLab.status).toBe(400)
    expect(fieldsOf(noLab.body)).toEqual([{ field: 'lab', message: 'No lab named "no-lab"' }])
    const noClient = await admin.post('/api/terminals', { name: 'pc91', ip: '10.1.0.91', lab: 't-lab', client: 'no-client' })
    expect(noClient.status).toBe(400)
    expect(fieldsOf(noClient.body)).toEqual([{ field: 'client', message: 'No client named "no-client"' }])
    expect((await admin.get('/api/terminals/pc90')).status).toBe(404)
    expect((await admin.get('/api/terminals/pc91')).status).toBe(404)
  })

  it("refuses a seat beyond the lab's maximum", async () => {
    const res = await admin.post('/api/terminals', { name: 'pc92', ip: '10.1.0.92', lab: 't-lab', seat: 5 })
    expect(res.status).toBe(400)
    expect(fieldsOf(res.body).map((f) => f.field)).toEqual(['seat'])
    expect(fieldsOf(res.body)[0]!.message).toContain('4')
  })

  it('keeps a lab from shrinking its maximum below a seat a terminal is pinned to', async () => {
    // pc01 is pinned to seat 4 of t-lab (max 4).
    const lab = (await admin.get('/api/labs/t-lab')).body
    const res = await admin.put('/api/labs/t-lab', { ...lab, size: 2, max: 3 })
    expect(res.status).toBe(400)
    expect(fieldsOf(res.body)).toEqual([{ field: 'max', message: 'Terminals pc01 are pinned to seats above 3' }])
    expect((await admin.get('/api/labs/t-lab')).body).toMatchObject({ max: 4, revision: lab.revision })
  })

  it('refuses an IP or a MAC another terminal has, naming it (409)', async () => {
    await admin.post('/api/terminals', { name: 'pc02', ip: '10.1.0.12', mac: '00:11:22:33:44:02', lab: 't-lab' })
    const sameIp = await admin.post('/api/terminals', { name: 'pc03', ip: '10.1.0.12', lab: 't-lab' })
    expect(sameIp.status).toBe(409)
    expect(sameIp.body.message).toContain('pc02')
    expect(sameIp.body.message).toContain('10.1.0.12')
    // MACs are compared as the schema normalizes them (lower case).
    const sameMac = await admin.post('/api/terminals', { name: 'pc03', mac: '00:11:22:33:44:02'.toUpperCase(), lab: 't-lab' })
    expect(sameMac.status).toBe(409)
    expect(sameMac.body.message).toContain('pc02')
    expect((await admin.get('/api/terminals/pc03')).status).toBe(404)
  })

  it('lets a terminal keep its own addresses on update, but not take another one', async () => {
    const t = (await admin.post('/api/terminals', { name: 'pc04', ip: '10.1.0.14', lab: 't-lab' })).body
    const same = await admin.put('/api/terminals/pc04', { ...t, description: 'front row' })
    expect(same.status).toBe(200)
    expect(same.body).toMatchObject({ ip: '10.1.0.14', description: 'front row', revision: 2 })
    const taken = await admin.put('/api/terminals/pc04', { ...same.body, ip: '10.1.0.11' })
    expect(taken.status).toBe(409)
    expect(taken.body.message).toContain('pc01')
    expect((await admin.get('/api/terminals/pc04')).body.ip).toBe('10.1.0.14')
  })

  it('deletes a terminal', async () => {
    await admin.post('/api/terminals', { name: 'pc05', ip: '10.1.0.15', lab: 't-lab' })
    expect((await admin.delete('/api/terminals/pc05')).status).toBe(204)
    expect((await admin.get('/api/terminals/pc05')).status).toBe(404)
  })
})

describe('clients', () => {
  it('creates, updates and deletes a client class', async () => {
    const c = await makeClient('vnc')
    expect(c).toMatchObject({ id: 'vnc', program: 'xfreerdp', args: ['/v:%HOST%:%PORT%', '/u:%USER%'] })
    const res = await admin.put('/api/clients/vnc', { ...c, program: 'vncviewer', args: ['%HOST%::%PORT%'] })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ program: 'vncviewer', args: ['%HOST%::%PORT%'], revision: 2 })
    expect((await admin.delete('/api/clients/vnc')).status).toBe(204)
    expect((await admin.get('/api/clients/vnc')).status).toBe(404)
  })

  it('refuses to delete a client a lab or a terminal uses, naming them', async () => {
    await makeImage('c-img', 8)
    await makeProfile('c-prof', ['c-img'])
    await makeClient('rdp')
    await makeLab('c-lab', ['c-prof'], { client: 'rdp' })
    await admin.post('/api/terminals', { name: 'c-pc', ip: '10.2.0.1', lab: 'c-lab', client: 'rdp' })

    const both = await admin.delete('/api/clients/rdp')
    expect(both.status).toBe(409)
    expect(both.body.message).toContain('c-lab')
    expect(both.body.message).toContain('c-pc')
    expect(both.body.usedBy).toEqual({ labs: ['c-lab'], terminals: ['c-pc'] })

    expect((await admin.delete('/api/terminals/c-pc')).status).toBe(204)
    const labOnly = await admin.delete('/api/clients/rdp')
    expect(labOnly.status).toBe(409)
    expect(labOnly.body.usedBy).toEqual({ labs: ['c-lab'] })
    expect((await admin.get('/api/clients/rdp')).status).toBe(200)
  })
})

describe('users', () => {
  it('creates a user who can log in, changes its role, deletes it', async () => {
    const res = await admin.post('/api/users', { username: 'bob', password: 'bob-password', role: 'viewer' })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ id: 'bob', username: 'bob', role: 'viewer', revision: 1 })
    expect(JSON.stringify(res.body)).not.toMatch(/password|hash/i)
    const list = await admin.get('/api/users')
    expect(list.body.map((u: { id: string }) => u.id)).toEqual(expect.arrayContaining(['admin', 'bob']))
    expect(JSON.stringify(list.body)).not.toMatch(/password|hash/i)
    expect(JSON.stringify((await admin.get('/api/users/bob')).body)).not.toMatch(/password|hash/i)

    const bob = await new ApiClient(server.url).login('bob', 'bob-password')
    expect((await bob.get('/api/auth/me')).body).toMatchObject({ username: 'bob', role: 'viewer' })
    expect((await bob.post('/api/clients', { name: 'x', program: 'x', args: [] })).status).toBe(403)

    const promoted = await admin.put('/api/users/bob', { revision: 1, role: 'admin' })
    expect(promoted.status).toBe(200)
    expect(promoted.body).toMatchObject({ role: 'admin', revision: 2 })
    expect((await admin.put('/api/users/bob', { revision: 1, role: 'viewer' })).status).toBe(409)
    // A role change ends the user's sessions; a fresh login carries the new role.
    const bob2 = await new ApiClient(server.url).login('bob', 'bob-password')
    expect((await bob2.get('/api/auth/me')).body.role).toBe('admin')

    expect((await admin.delete('/api/users/bob')).status).toBe(204)
    expect((await admin.get('/api/users/bob')).status).toBe(404)
    expect((await new ApiClient(server.url).post('/api/auth/login', { username: 'bob', password: 'bob-password' })).status).toBe(401)
  })

  it('refuses a duplicate username', async () => {
    await admin.post('/api/users', { username: 'carol', password: 'carol-password', role: 'viewer' })
    const res = await admin.post('/api/users', { username: 'carol', password: 'other-password', role: 'admin' })
    expect(res.status).toBe(409)
    expect((await admin.get('/api/users/carol')).body.role).toBe('viewer')
    expect((await admin.delete('/api/users/carol')).status).toBe(204)
  })

  it('never deletes or demotes the last administrator', async () => {
    const admins = (await admin.get('/api/users')).body.filter((u: { role: string }) => u.role === 'admin')
    expect(admins.map((u: { id: string }) => u.id)).toEqual(['admin'])
    const me = admins[0]
    const del = await admin.delete('/api/users/admin')
    expect(del.status).toBe(409)
    expect(del.body.message).toContain('admin')
    const demote = await admin.put('/api/users/admin', { revision: me.revision, role: 'viewer' })
    expect(demote.status).toBe(409)
    expect((await admin.get('/api/users/admin')).body).toMatchObject({ role: 'admin', revision: me.revision })
  })
})

describe('events', () => {
  it('lists who did what, newest first', async () => {
    await admin.post('/api/users', { username: 'dave', password: 'dave-password', role: 'admin' })
    const dave = await new ApiClient(server.url).login('dave', 'dave-password')
    expect((await dave.post('/api/clients', { name: 'ev-client', program: 'rdesktop', args: ['%HOST%'] })).status).toBe(201)
    expect((await dave.delete('/api/clients/ev-client')).status).toBe(204)

    const res = await admin.get('/api/events?limit=4')
    expect(res.status).toBe(200)
    expect(res.body.map((e: Record<string, unknown>) => [e.actor, e.action, e.kind, e.id])).toEqual([
      ['dave', 'delete', 'client', 'ev-client'],
      ['dave', 'create', 'client', 'ev-client'],
      ['dave', 'login', 'session', 'dave'],
      ['admin', 'create', 'user', 'dave'],
    ])
    expect(res.body[1].revision).toBe(1)

    const all = (await admin.get('/api/events')).body as { at: string }[]
    expect(all.length).toBeGreaterThan(3)
    expect(all.length).toBeLessThanOrEqual(100)
    const times = all.map((e) => Date.parse(e.at))
    expect(times).toEqual([...times].sort((a, b) => b - a))
  })

  it('validates ?limit=', async () => {
    for (const bad of ['0', '1001', 'abc', '-1', '1.5']) {
      const res = await admin.get(`/api/events?limit=${bad}`)
      expect(res.status, bad).toBe(400)
      expect(fieldsOf(res.body).map((f) => f.field), bad).toEqual(['limit'])
    }
    expect((await admin.get('/api/events?limit=1000')).status).toBe(200)
    expect((await admin.get('/api/events?limit=1')).body).toHaveLength(1)
  })

  it('is readable by a viewer but needs a session', async () => {
    await admin.post('/api/users', { username: 'erin', password: 'erin-password', role: 'viewer' })
    const erin = await new ApiClient(server.url).login('erin', 'erin-password')
    expect((await erin.get('/api/events?limit=1')).status).toBe(200)
    expect((await new ApiClient(server.url).get('/api/events')).status).toBe(401)
  })
})
