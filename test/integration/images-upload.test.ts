import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { request, type ClientRequest, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { adminClient, type ApiClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { until } from '../helpers/qemu'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'

// Bringing images in (issue 11): uploads streamed to disk and checked before they get their name,
// files copied in by hand imported, and every path and name attack refused before anything runs.
// Real qemu-img, the built server, bytes on disk.

const MiB = 2 ** 20
const CLI = resolve(__dirname, '../../bin/labvirt.mjs')

let server: TestServer
let admin: ApiClient
let scratch: string
let imagesDir: string

beforeAll(async () => {
  server = await startServer({ LABVIRT_UPLOAD_MAX: '400M' })
  admin = await adminClient(server.url)
  imagesDir = join(server.dataDir, 'images')
  scratch = await mkdtemp(join(tmpdir(), 'labvirt-upload-'))
}, 60_000)

afterAll(async () => {
  await server?.dispose()
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

interface Put { req: ClientRequest; answer: Promise<{ status: number; body: any; headers: IncomingMessage['headers'] }> }

/** A PUT of raw bytes on its own connection; the caller writes the body (and may cut it). */
function put(path: string, headers: Record<string, string | number> = {}, url = server.url, cookie = admin.cookie): Put {
  const req = request(`${url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', cookie, ...headers } })
  const answer = new Promise<{ status: number; body: any; headers: IncomingMessage['headers'] }>((ok, fail) => {
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d) => (text += d))
      res.on('end', () => ok({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, headers: res.headers }))
    })
    req.on('error', fail)
  })
  return { req, answer }
}

/** PUTs a whole file or buffer with its Content-Length. */
async function upload(id: string, content: Buffer | string, headers: Record<string, string> = {}) {
  const size = typeof content === 'string' ? (await stat(content)).size : content.length
  const p = put(`/api/images/${id}/content`, { 'content-length': size, ...headers })
  if (typeof content === 'string') createReadStream(content).pipe(p.req)
  else p.req.end(content)
  return p.answer
}

const sha256 = async (path: string) => {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk)
  return h.digest('hex')
}

const listDir = async () => (await readdir(imagesDir).catch(() => [] as string[])).sort()

const rssKiB = async (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1])

/** A raw disk: a zero boot sector, then `size - 512` random bytes, written in 1 MiB pieces. */
async function rawDisk(path: string, size: number) {
  const fh = await open(path, 'w')
  try {
    for (let at = 0; at < size; at += MiB) {
      const chunk = randomBytes(Math.min(MiB, size - at))
      if (at === 0) chunk.fill(0, 0, 512)
      await fh.write(chunk, 0, chunk.length, at)
    }
  } finally {
    await fh.close()
  }
}

/** An ISO 9660 image as far as its signature goes: "CD001" in the primary volume descriptor. */
function iso(size = 64 * 1024) {
  const buf = Buffer.alloc(size)
  buf[0x8000] = 1
  buf.write('CD001', 0x8001, 'latin1')
  return buf
}

const qemuImg = (...args: string[]) => execa('qemu-img', args)

describe('PUT /api/images/:id/content', () => {
  it('streams a 300 MiB disk to disk intact, without holding it in memory', async () => {
    const src = join(scratch, 'big.img')
    await rawDisk(src, 300 * MiB)
    const id = uniqueName('big')
    // A first small upload loads what any upload needs (code, qemu-img's child process): that is
    // no growth with the upload's size.
    const warm = uniqueName('warm')
    expect((await upload(warm, iso())).status).toBe(201)
    expect((await admin.delete(`/api/images/${warm}`)).status).toBe(204)
    const pid = server.proc.pid!
    const before = await rssKiB(pid)
    let peak = before
    const sampler = setInterval(() => void rssKiB(pid).then((k) => (peak = Math.max(peak, k)), () => {}), 25)
    let res
    try {
      res = await upload(id, src)
    } finally {
      clearInterval(sampler)
    }
    peak = Math.max(peak, await rssKiB(pid))
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ id, format: 'raw', file: `${id}.img`, virtualSize: 300 * MiB })
    expect(await sha256(join(imagesDir, `${id}.img`))).toBe(await sha256(src))
    if (process.env.LABVIRT_UPLOAD_VERBOSE) console.log(`RSS ${before} KiB -> peak ${peak} KiB`)
    expect((peak - before) / 1024, `RSS grew from ${before} KiB to ${peak} KiB`).toBeLessThan(50)
    expect(await listDir()).toEqual([`${id}.img`])
    expect((await admin.get(`/api/images/${id}`)).body).toMatchObject({ format: 'raw', virtualSize: 300 * MiB })
    await rm(src)
    expect((await admin.delete(`/api/images/${id}`)).status).toBe(204)
  }, 120_000)

  it('a cut connection leaves no file and no record', async () => {
    const id = uniqueName('cut')
    const p = put(`/api/images/${id}/content`, { 'content-length': 64 * MiB })
    p.answer.catch(() => {})
    p.req.write(Buffer.alloc(4 * MiB))
    await until(async () => (await listDir()).some((f) => f.startsWith(`.upload-${id}-`)), 10_000, 'the temporary file')
    p.req.destroy()
    await until(async () => (await listDir()).length === 0, 10_000, 'the temporary file to go')
    expect((await admin.get(`/api/images/${id}`)).status).toBe(404)
  })

  it('a file that is no image is refused, in the caller language, and removed', async () => {
    const text = Buffer.from('#!/bin/sh\necho this is a script, not a disk\n'.repeat(64))
    const res = await upload(uniqueName('txt'), text, { 'accept-language': 'es' })
    expect(res.status, JSON.stringify(res.body)).toBe(415)
    expect(res.body.error).toBe('not_an_image')
    expect(res.body.message).toMatch(/no es una ISO/)
    // Not a whole number of sectors either.
    expect((await upload(uniqueName('odd'), Buffer.alloc(1000))).status).toBe(415)
    expect(await listDir()).toEqual([])
  })

  it('takes an ISO by its signature', async () => {
    const id = uniqueName('iso')
    const res = await upload(id, iso())
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ format: 'iso', file: `${id}.iso`, virtualSize: 64 * 1024 })
    expect(await listDir()).toContain(`${id}.iso`)
  })

  it('refuses a qcow2 whose backing file is outside the images directory', async () => {
    const base = join(scratch, 'base.qcow2')
    const overlay = join(scratch, 'overlay.qcow2')
    await qemuImg('create', '-q', '-f', 'qcow2', base, '16M')
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay)
    const before = await listDir()
    const res = await upload(uniqueName('back'), await readFile(overlay))
    expect(res.status, JSON.stringify(res.body)).toBe(415)
    expect(res.body.message).toMatch(/backing file outside/)
    expect(await listDir()).toEqual(before)
  })

  it('replaces an unused image, and refuses (409, naming them) while a profile uses it', async () => {
    const img = await create(admin, 'images', bodies.image())
    const res = await upload(img.id, iso())
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body).toMatchObject({ format: 'iso', file: `${img.id}.iso`, revision: img.revision + 1 })
    expect(await listDir()).not.toContain(`${img.id}.qcow2`)
    const profile = await create(admin, 'profiles', bodies.profile(img.id))
    const used = await upload(img.id, iso(128 * 1024))
    expect(used.status, JSON.stringify(used.body)).toBe(409)
    expect(used.body.usedBy).toEqual({ profiles: [profile.id] })
    expect((await stat(join(imagesDir, `${img.id}.iso`))).size).toBe(64 * 1024)
  })

  it('a second upload to the same image while one runs gets 409', async () => {
    const id = uniqueName('twice')
    const first = put(`/api/images/${id}/content`, { 'content-length': 2 * MiB })
    first.req.write(Buffer.alloc(MiB))
    await until(async () => (await listDir()).some((f) => f.startsWith(`.upload-${id}-`)), 10_000, 'the first upload to start')
    const second = await upload(id, iso())
    expect(second.status, JSON.stringify(second.body)).toBe(409)
    first.req.end(Buffer.alloc(MiB))
    expect((await first.answer).status).toBe(201)
    expect((await admin.get(`/api/images/${id}`)).body.format).toBe('raw')
  })

  it('refuses a body above LABVIRT_UPLOAD_MAX: by its Content-Length before reading, chunked once it passes', async () => {
    const id = uniqueName('huge')
    const declared = put(`/api/images/${id}/content`, { 'content-length': 401 * MiB })
    declared.req.write(Buffer.alloc(64 * 1024))
    const res = await declared.answer
    declared.req.destroy()
    expect(res.status, JSON.stringify(res.body)).toBe(413)
    expect(res.headers.connection).toBe('close')
    const chunked = put(`/api/images/${id}/content`, { 'transfer-encoding': 'chunked' })
    chunked.answer.catch(() => {})
    const block = Buffer.alloc(4 * MiB)
    let sent = 0
    let answered: { status: number } | undefined
    chunked.answer.then((a) => (answered = a), () => {})
    while (!answered && sent < 500 * MiB) {
      if (!chunked.req.write(block)) {
        await new Promise<void>((r) => {
          const go = () => {
            chunked.req.off('drain', go).off('close', go)
            r()
          }
          chunked.req.on('drain', go).on('close', go)
        })
      }
      sent += block.length
      if (chunked.req.destroyed) break
    }
    expect((await chunked.answer).status).toBe(413)
    expect(sent).toBeLessThan(500 * MiB)
    await until(async () => !(await listDir()).some((f) => f.startsWith('.upload-')), 10_000, 'the temporary file to go')
    expect((await admin.get(`/api/images/${id}`)).status).toBe(404)
  }, 60_000)
})

describe('disk space', () => {
  it('an upload that would leave less than LABVIRT_DISK_RESERVE free is refused; a crash\'s leftovers go at start', async () => {
    const tight = await startServer({ LABVIRT_DISK_RESERVE: '1000000G' })
    try {
      const c = await adminClient(tight.url)
      const res = await new Promise<{ status: number; body: any }>((ok, fail) => {
        const p = put(`/api/images/${uniqueName('full')}/content`, { 'content-length': iso().length }, tight.url, c.cookie)
        p.req.end(iso())
        p.answer.then(ok, fail)
      })
      expect(res.status, JSON.stringify(res.body)).toBe(507)
      expect(res.body.message).toMatch(/Not enough disk space/)
      expect(await readdir(join(tight.dataDir, 'images')).catch(() => [])).toEqual([])
      // What a crash mid-upload leaves is gone at the next start; other files stay.
      await mkdir(join(tight.dataDir, 'images'), { recursive: true })
      await writeFile(join(tight.dataDir, 'images', '.upload-crashed-0123456789ab.part'), 'half')
      await writeFile(join(tight.dataDir, 'images', 'kept.iso'), iso())
      await tight.restart()
      await until(async () => (await readdir(join(tight.dataDir, 'images'))).length === 1, 10_000, 'the leftover to go')
      expect(await readdir(join(tight.dataDir, 'images'))).toEqual(['kept.iso'])
    } finally {
      await tight.dispose()
    }
  })
})

describe('POST /api/images/import', () => {
  it('lists a hand-copied qcow2 as not imported, then imports it', async () => {
    const file = `hand-${randomBytes(3).toString('hex')}.qcow2`
    await qemuImg('create', '-q', '-f', 'qcow2', join(imagesDir, file), '32M')
    const listed = await admin.get('/api/images/unimported')
    expect(listed.status).toBe(200)
    expect(listed.body).toContainEqual(expect.objectContaining({ file }))
    const name = uniqueName('hand')
    const res = await admin.post('/api/images/import', { file, name })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ id: name, file, format: 'qcow2', virtualSize: 32 * MiB })
    expect((await admin.get('/api/images/unimported')).body.map((u: any) => u.file)).not.toContain(file)
    // One file, one image.
    expect((await admin.post('/api/images/import', { file, name: uniqueName('again') })).status).toBe(409)
  })

  it('converts a raw disk to qcow2 when asked, the raw file replaced', async () => {
    const file = `disk-${randomBytes(3).toString('hex')}.raw`
    await rawDisk(join(imagesDir, file), 8 * MiB)
    const name = uniqueName('conv')
    const res = await admin.post('/api/images/import', { file, name, convert: true })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ file: `${name}.qcow2`, format: 'qcow2', virtualSize: 8 * MiB })
    const dir = await listDir()
    expect(dir).toContain(`${name}.qcow2`)
    expect(dir).not.toContain(file)
    expect(dir.filter((f) => f.startsWith('.'))).toEqual([])
  })

  it('an ISO without a name takes the file name', async () => {
    const stem = `live-${randomBytes(3).toString('hex')}`
    await writeFile(join(imagesDir, `${stem}.iso`), iso())
    const res = await admin.post('/api/images/import', { file: `${stem}.iso` })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ id: stem, format: 'iso' })
  })
})

describe('path and name attacks', () => {
  let outside: string
  let outsideSum: string

  beforeAll(async () => {
    outside = join(scratch, 'secret.img')
    await rawDisk(outside, MiB)
    outsideSum = await sha256(outside)
    await symlink(outside, join(imagesDir, 'evil.img'))
  })

  it.each([
    ['../x', 'file'],
    ['../../etc/passwd', 'file'],
    ['a,b.img', 'file'],
    ['-o', 'file'],
    ['-f.img', 'file'],
    ['/etc/passwd', 'file'],
    ['/tmp/labvirt-upload-secret.img', 'file'],
    ['.hidden.img', 'file'],
    ['a..b', 'file'],
    ['evil.img', 'file'],
    ['no-such.img', 'file'],
  ])('import of %s is refused (400, field %s), touching nothing', async (file, field) => {
    const before = await listDir()
    const res = await admin.post('/api/images/import', { file, name: uniqueName('atk') })
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    expect(res.body.fields.map((f: any) => f.field)).toContain(field)
    expect(await listDir()).toEqual(before)
    expect(await sha256(outside)).toBe(outsideSum)
  })

  it.each(['a,b', '-o', '../x', 'A', 'unimported', 'import'])('the image name %s is refused on import and upload', async (name) => {
    await writeFile(join(imagesDir, 'named.iso'), iso())
    const before = await listDir()
    const res = await admin.post('/api/images/import', { file: 'named.iso', name })
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    const up = await upload(encodeURIComponent(name), iso())
    expect([400, 404], JSON.stringify(up.body)).toContain(up.status)
    expect(await listDir()).toEqual(before)
  })

  it('a symlink out of the directory is never listed as not imported', async () => {
    const files = (await admin.get('/api/images/unimported')).body.map((u: any) => u.file)
    expect(files).not.toContain('evil.img')
    expect(await sha256(outside)).toBe(outsideSum)
  })
})

describe('labvirt image', () => {
  const run = (args: string[]) => execa(CLI, args, { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C' } })

  it('upload streams a file with progress on stderr', async () => {
    const src = join(scratch, 'cli.img')
    await rawDisk(src, 4 * MiB)
    const name = uniqueName('cli')
    const r = await run(['image', 'upload', src, '--name', name])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain('Uploading: 100% (4 of 4 MiB)')
    expect(r.stdout).toContain(`Image ${name}: raw, 4 MiB`)
    expect(await sha256(join(imagesDir, `${name}.img`))).toBe(await sha256(src))
  })

  it('import takes a file of the images directory, converting on request; a refusal says why', async () => {
    const file = `cli-${randomBytes(3).toString('hex')}.raw`
    await rawDisk(join(imagesDir, file), 2 * MiB)
    const name = uniqueName('clim')
    const r = await run(['image', 'import', file, '--name', name, '--convert'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Image ${name}: qcow2, 2 MiB`)
    const bad = await run(['image', 'import', '../etc/passwd', '--name', uniqueName('clib')])
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toMatch(/file:/)
  })
})
