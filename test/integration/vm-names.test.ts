import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// Seats (`<lab>-<n>`), maintenance VMs (`<profile>-maint`) and one-off VMs share one name space:
// whichever comes second is refused with 409 naming the other, so two records never want one VM.

let server: TestServer
let api: ApiClient
let profile: string

beforeAll(async () => {
  server = await startServer()
  api = await adminClient(server.url)
  const image = await create(api, 'images', bodies.image())
  profile = (await create(api, 'profiles', bodies.profile(image.id))).id
})
afterAll(async () => {
  await server?.dispose()
})

const oneOff = (name: string) => api.post('/api/vms', { name, profile, snapshot: false })

describe('a one-off VM, then a lab', () => {
  it.each([
    ['a lab of size 1', { size: 1, max: 1 }],
    ['a lab whose max reaches it', { size: 0, max: 3 }],
  ])('%s over the one-off VM name is refused', async (_, sizes) => {
    const lab = uniqueName('qq')
    const vm = `${lab}-${sizes.max}`
    expect((await oneOff(vm)).status).toBe(201)
    const res = await api.post('/api/labs', { ...bodies.lab(profile, undefined, lab), ...sizes })
    expect(res.status, JSON.stringify(res.body)).toBe(409)
    expect(res.body.message).toContain(vm)
    expect((await api.get(`/api/labs/${lab}`)).status).toBe(404)
  })

  it('growing a lab onto the one-off VM name is refused, and the lab is unchanged', async () => {
    const lab = uniqueName('qq')
    const created = await api.post('/api/labs', { ...bodies.lab(profile, undefined, lab), size: 1, max: 1 })
    expect(created.status).toBe(201)
    expect((await oneOff(`${lab}-2`)).status).toBe(201)
    const res = await api.put(`/api/labs/${lab}`, { ...created.body, size: 2, max: 2 })
    expect(res.status, JSON.stringify(res.body)).toBe(409)
    expect(res.body.message).toContain(`${lab}-2`)
    expect((await api.get(`/api/labs/${lab}`)).body).toEqual(created.body)
  })
})

describe('a lab or a profile, then a one-off VM', () => {
  it('a seat name of a lab is refused', async () => {
    const lab = uniqueName('qq')
    expect((await api.post('/api/labs', { ...bodies.lab(profile, undefined, lab), size: 1, max: 2 })).status).toBe(201)
    const res = await oneOff(`${lab}-2`)
    expect(res.status).toBe(409)
    expect(res.body.message).toContain(lab)
  })

  it("the name of a profile's maintenance VM is refused", async () => {
    const res = await oneOff(`${profile}-maint`)
    expect(res.status, JSON.stringify(res.body)).toBe(409)
    expect(res.body.message).toContain(profile)
  })
})

describe('a one-off VM, then maintenance', () => {
  it('maintenance whose VM would have the one-off VM name is refused', async () => {
    const image = await create(api, 'images', bodies.image())
    const other = (await create(api, 'profiles', bodies.profile(image.id, uniqueName('pm')))).id
    // The one-off VM first (while no profile of that name existed it was just a name)...
    await api.delete(`/api/profiles/${other}`)
    expect((await oneOff(`${other}-maint`)).status).toBe(201)
    expect((await create(api, 'profiles', bodies.profile(image.id, other))).id).toBe(other)
    const res = await api.post(`/api/profiles/${other}/maintenance`, { action: 'start', mode: 'exclusive' })
    expect(res.status, JSON.stringify(res.body)).toBe(409)
    expect(res.body.message).toContain(`${other}-maint`)
  })
})
