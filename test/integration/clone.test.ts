import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { adminClient, type ApiClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { until } from '../helpers/qemu'
import { StreamReader } from '../helpers/stream'
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server'

const CLI = resolve(__dirname, '../../bin/labvirt.mjs')

// Profile clones (issue 11): a job copies (or links) the system disk with real qemu-img, reports
// its progress, can be cancelled, and does not survive a restart half done. The source is 1 GiB
// with 1000 MiB of data, the figure (its copy takes a few seconds here).

let server: TestServer
let admin: ApiClient
let imagesDir: string
let image: string
let profile: string

const listDir = async () => (await readdir(imagesDir)).sort()
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

async function finished(id: string, ms = 60_000) {
  let job: any
  await until(async () => TERMINAL.has((job = (await admin.get(`/api/jobs/${id}`)).body).state), ms, `job ${id} to end`)
  return job
}

async function running(id: string) {
  await until(async () => {
    const job = (await admin.get(`/api/jobs/${id}`)).body
    if (TERMINAL.has(job.state)) throw new Error(`job ended before it could be interrupted: ${JSON.stringify(job)}`)
    return job.state === 'running' && job.progress > 0
  }, 20_000, `job ${id} under way`)
}

/** A full clone started and copying, with the images directory as it was before it. */
async function cloneUnderWay(prefix: string) {
  const before = await listDir()
  const name = uniqueName(prefix)
  const id = (await admin.post(`/api/profiles/${profile}/clone`, { name })).body.job.id
  await running(id)
  return { before, name, id }
}

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  imagesDir = join(server.dataDir, 'images')
  image = (await create(admin, 'images', { ...bodies.image(), sizeMiB: 1024 })).id
  await execa('qemu-io', ['-c', 'write -P 0xab 0 1000M', join(imagesDir, `${image}.qcow2`)])
  profile = (await create(admin, 'profiles', { ...bodies.profile(image), memoryMiB: 384 })).id
}, 120_000)

afterAll(async () => {
  await server?.dispose()
})

describe('profile clones', () => {
  it('a full clone reports rising progress to 100 and gives an identical image and a profile like the source', async () => {
    const name = uniqueName('full')
    const { reader: stream } = await StreamReader.open(server.url, admin.cookie)
    await stream!.next('vms', (e) => e.event === 'vms')
    const res = await admin.post(`/api/profiles/${profile}/clone`, { name, mode: 'full' })
    expect(res.status, JSON.stringify(res.body)).toBe(202)
    const id = res.body.job.id
    const seen: number[] = []
    let job: any
    await until(async () => {
      job = (await admin.get(`/api/jobs/${id}`)).body
      if (seen[seen.length - 1] !== job.progress) seen.push(job.progress)
      return TERMINAL.has(job.state)
    }, 60_000, 'full clone')
    expect(job.state, JSON.stringify(job)).toBe('succeeded')
    expect(seen.length, String(seen)).toBeGreaterThanOrEqual(5)
    expect([...seen].sort((a, b) => a - b)).toEqual(seen)
    expect(seen[seen.length - 1]).toBe(100)
    const clone = (await admin.get(`/api/profiles/${name}`)).body
    expect(clone).toMatchObject({ name, memoryMiB: 384, disks: [{ image: name, bus: 'ide', media: 'disk' }] })
    const compare = await execa('qemu-img', ['compare', join(imagesDir, `${image}.qcow2`), join(imagesDir, `${name}.qcow2`)], { reject: false })
    expect(compare.exitCode, compare.stdout + compare.stderr).toBe(0)
    expect(compare.stdout).toContain('identical')
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', join(imagesDir, `${name}.qcow2`)])).stdout)
    expect(info['backing-filename']).toBeUndefined()
    expect((await admin.get('/api/jobs')).body[0].id).toBe(id)
    // The console's progress bar hears the same job on the live stream, to its end.
    await stream!.next('job succeeded', (e) => e.event === 'job' && e.data.id === id && e.data.state === 'succeeded' && e.data.progress === 100)
    const streamed = stream!.events.filter((e) => e.event === 'job' && e.data.id === id).map((e) => e.data.progress)
    stream!.close()
    expect(new Set(streamed).size, String(streamed)).toBeGreaterThanOrEqual(5)
  }, 90_000)

  it('a linked clone is backed by the source image, which cannot be deleted while it is', async () => {
    const name = uniqueName('link')
    const res = await admin.post(`/api/profiles/${profile}/clone`, { name, mode: 'linked' })
    expect(res.status, JSON.stringify(res.body)).toBe(202)
    const done = await finished(res.body.job.id, 10_000)
    expect(done.state, JSON.stringify(done)).toBe('succeeded')
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', join(imagesDir, `${name}.qcow2`)])).stdout)
    expect(info['backing-filename']).toBe(join(await import('node:fs/promises').then((f) => f.realpath(imagesDir)), `${image}.qcow2`))
    expect(info['backing-filename-format']).toBe('qcow2')
    const del = await admin.delete(`/api/images/${image}`)
    expect(del.status).toBe(409)
    // The source's own profile is named too; the linked image is what this test adds.
    expect(del.body.message).toContain(`images backed by it: ${name}`)
    expect(await listDir()).toContain(`${image}.qcow2`)
  }, 60_000)

  it('a cancelled clone leaves no file and no profile', async () => {
    const { before, name, id } = await cloneUnderWay('cancel')
    expect((await admin.post(`/api/jobs/${id}/cancel`)).status).toBe(202)
    expect((await finished(id)).state).toBe('cancelled')
    expect(await listDir()).toEqual(before)
    expect((await admin.get(`/api/profiles/${name}`)).status).toBe(404)
    expect((await admin.post(`/api/jobs/${id}/cancel`)).status).toBe(409)
  }, 60_000)

  it('a restart mid-clone leaves the job failed and no temporary file', async () => {
    const { before, name, id } = await cloneUnderWay('restart')
    await server.restart()
    admin = await adminClient(server.url)
    const job = await finished(id, 10_000)
    expect(job).toMatchObject({ state: 'failed', error: 'LabVirt restarted during the job' })
    expect(await listDir()).toEqual(before)
    expect((await admin.get(`/api/profiles/${name}`)).status).toBe(404)
  }, 60_000)

  it('labvirt profile clone follows the job to its end and says what it made; a taken name fails with the reason', async () => {
    const name = uniqueName('cli')
    const cli = (args: string[]) => execa(CLI, args, { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_PASSWORD: ADMIN_PASSWORD, LANG: 'C' } })
    const made = await cli(['profile', 'clone', profile, '--name', name, '--linked'])
    expect(made.exitCode, made.stderr).toBe(0)
    expect(made.stdout.trim()).toBe(`Profile ${name} made from ${profile}`)
    expect(made.stderr).toContain('Copying: 100%')
    expect((await admin.get(`/api/profiles/${name}`)).body.disks[0].image).toBe(name)
    const taken = await cli(['profile', 'clone', profile, '--name', name])
    expect(taken.exitCode).toBe(1)
    expect(taken.stderr).toContain(name)
    expect(taken.stderr).toContain('already exists')
  }, 60_000)

  it('refuses bad and taken names before any work', async () => {
    const before = await listDir()
    const jobs = (await admin.get('/api/jobs')).body.length
    for (const name of ['../x', 'a,b', '-o', '/abs']) {
      const res = await admin.post(`/api/profiles/${profile}/clone`, { name, mode: 'full' })
      expect(res.status, name).toBe(400)
      expect(res.body.fields?.[0]?.field ?? JSON.stringify(res.body), name).toContain('name')
    }
    expect((await admin.post(`/api/profiles/${profile}/clone`, { name: profile })).status).toBe(409)
    expect((await admin.post(`/api/profiles/${profile}/clone`, { name: image })).status).toBe(409)
    expect(await listDir()).toEqual(before)
    expect((await admin.get('/api/jobs')).body.length).toBe(jobs)
  })
})
