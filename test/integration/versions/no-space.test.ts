import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient, adminClient } from '../../helpers/client'
import { uniqueName } from '../../helpers/fixtures'
import { acrossPasses, alive, listVms, makeLab, sha256, startVmServer, type VmWorld, waitFor } from '../vms/vm-helpers'

// A publish or a clone that would leave the data directory under LABVIRT_DISK_RESERVE is refused
// before anything starts (507 'no_space'): no job, no version, no file, the overlay and its VM kept.
// The disk is made "full" by restarting LabVirt with a reserve above any free space.

let w: VmWorld
beforeAll(async () => {
  w = await startVmServer()
})
afterAll(() => w?.dispose())

describe('disk space for publish and clone', () => {
  it('refuses a publish and a clone with the reserve named, and changes nothing', async () => {
    const { profile } = await makeLab(w.api, 1, 'ns')
    expect((await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'start' })).status).toBe(200)
    const maint = `${profile.id}-maint`
    const running = async () => waitFor(`${maint} running`, 30_000, async () => {
      const vm = (await listVms(w.api)).find((v) => v.id === maint)
      return vm?.state === 'running' && !!vm.pid && alive(vm.pid) ? vm : undefined
    })
    const before = await running()
    const overlay = (await readdir(w.imagesDir)).find((f) => f.startsWith(`${profile.id}.maint-`))!
    expect(overlay).toBeDefined()

    w.server.env.LABVIRT_DISK_RESERVE = '1000000G'
    await w.server.restart()
    w.api = await adminClient(w.server.url)
    const files = (await readdir(w.imagesDir)).sort()
    const overlaySum = await sha256(join(w.imagesDir, overlay))
    const versions = (await w.api.get(`/api/profiles/${profile.id}/versions`)).body
    const jobs = (await w.api.get('/api/jobs')).body

    const pub = await w.api.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'no room', force: true })
    expect(pub.status, JSON.stringify(pub.body)).toBe(507)
    expect(pub.body).toMatchObject({ error: 'no_space' })
    expect(pub.body.message).toMatch(/^Not enough disk space: this needs [\d.]+ GiB and would leave less than the reserve of 1,000,000\.0 GiB free/)
    const es = await new ApiClient(w.server.url, 'es').login()
    expect((await es.post(`/api/profiles/${profile.id}/maintenance`, { action: 'publish', note: 'no room' })).body.message).toMatch(/^No hay espacio en disco suficiente/)

    for (const mode of ['full', 'linked']) {
      const name = uniqueName(`ns${mode}`)
      const clone = await w.api.post(`/api/profiles/${profile.id}/clone`, { name, mode })
      expect(clone.status, JSON.stringify(clone.body)).toBe(507)
      expect(clone.body.message).toMatch(/^Not enough disk space/)
      expect((await w.api.get(`/api/profiles/${name}`)).status).toBe(404)
      expect((await w.api.get(`/api/images/${name}`)).status).toBe(404)
    }

    // Nothing changed: no job, the same versions and maintenance, the overlay's VM left running on it.
    await acrossPasses(w.server, 2, async () => {
      expect((await w.api.get('/api/jobs')).body).toEqual(jobs)
      expect((await w.api.get(`/api/profiles/${profile.id}/versions`)).body).toEqual(versions)
      expect((await listVms(w.api)).find((v) => v.id === maint)?.pid).toBe(before.pid)
    })
    expect(versions).toMatchObject({ currentVersion: 1, versions: [{ n: 1 }], maintenance: { mode: 'overlay', state: 'running' } })
    expect((await readdir(w.imagesDir)).sort()).toEqual(files)
    expect(await sha256(join(w.imagesDir, overlay))).toBe(overlaySum)
  })
})
