import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// POST /api/labs/preview: the seats a lab would get, as the console shows them before saving.
let server: TestServer
let admin: ApiClient
let profile: string

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  const image = await create(admin, 'images', bodies.image())
  profile = (await create(admin, 'profiles', bodies.profile(image.id))).id
})
afterAll(() => server?.dispose())

describe('lab preview', () => {
  it('names each seat up to the maximum with the MAC, IP and host port the saved lab gets, and saves nothing', async () => {
    const name = uniqueName('lab')
    const body = { ...bodies.lab(profile, undefined, name), size: 2, max: 3, ipBase: '10.40.0.100' }
    const res = await admin.post('/api/labs/preview', body)
    expect(res.status).toBe(200)
    expect(res.body.seats.map((s: any) => [s.vm, s.ip, s.running])).toEqual([
      [`${name}-1`, '10.40.0.101', true],
      [`${name}-2`, '10.40.0.102', true],
      [`${name}-3`, '10.40.0.103', false],
    ])
    expect((await admin.get(`/api/labs/${name}`)).status).toBe(404)

    const saved = await create(admin, 'labs', body)
    expect(res.body.macBase).toBe(saved.macBase)
    expect(res.body.seats[2].mac).toBe(`${saved.macBase.slice(0, -2)}03`)
    expect(res.body.seats.map((s: any) => s.hostPort)).toEqual([0, 1, 2].map((i) => saved.network.hostPort + i))

    // An edit previews against the lab as stored: same MAC base and port block.
    const again = await admin.post('/api/labs/preview', { ...body, max: 4 })
    expect(again.body.seats.map((s: any) => s.mac)).toEqual([1, 2, 3, 4].map((n) => `${saved.macBase.slice(0, -2)}0${n}`))
    expect(again.body.seats[0].hostPort).toBe(saved.network.hostPort)
  })

  it('answers bad input as a create would: 400 naming the fields, in the caller\'s language', async () => {
    admin.lang = 'es'
    try {
      const res = await admin.post('/api/labs/preview', { ...bodies.lab('no-such-profile'), size: 5, max: 2, macBase: '52:54:00:00:00:01' })
      expect(res.status).toBe(400)
      const fields = res.body.fields.map((f: any) => f.field).sort()
      expect(fields).toEqual(['macBase', 'size'])
      expect(res.body.fields.find((f: any) => f.field === 'size').message).toMatch(/máximo/)
      const missing = await admin.post('/api/labs/preview', bodies.lab('no-such-profile'))
      expect(missing.status).toBe(400)
      expect(missing.body.fields).toEqual([{ field: 'profiles.0', message: expect.stringContaining('no-such-profile') }])
    } finally {
      admin.lang = undefined
    }
  })
})
