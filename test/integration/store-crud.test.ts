import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiClient } from '../helpers/client'
import { adminWhenReady, bodies, createLabSet, IMAGE_MIB, type LabSet, type Resource } from '../helpers/fixtures'
import { startRedis, type TestRedis } from '../helpers/redis'
import { startServer, type TestServer } from '../helpers/server'

// One CRUD suite for every resource of the admin API, run against the built server twice: on the
// file store and on a real redis-server. Whatever the store, the API must behave the same.

interface Spec {
  resource: Resource
  /** A valid POST body, referring to the records of the shared set. */
  body(set: LabSet): Record<string, any>
  /** The field a PUT changes, and two values for it (the first update, then a stale one). */
  field: string
  values: [unknown, unknown]
}

const specs: Spec[] = [
  { resource: 'images', body: () => bodies.image(), field: 'description', values: ['first change', 'stale change'] },
  { resource: 'profiles', body: (s) => bodies.profile(s.image.id), field: 'memoryMiB', values: [512, 1024] },
  { resource: 'clients', body: () => bodies.client(), field: 'args', values: [['/v:%HOST%'], ['/v:%HOST%', '/stale']] },
  { resource: 'labs', body: (s) => bodies.lab(s.profile.id, s.client.id), field: 'size', values: [3, 1] },
  { resource: 'terminals', body: (s) => bodies.terminal(s.lab.id, s.client.id), field: 'description', values: ['first change', 'stale change'] },
  { resource: 'users', body: () => bodies.user(), field: 'role', values: ['admin', 'viewer'] },
]

const fileExists = (p: string) => access(p).then(() => true, () => false)

describe.each(['fs', 'redis'] as const)('CRUD on the %s store', (store) => {
  let redis: TestRedis | undefined
  let server: TestServer
  let api: ApiClient
  let set: LabSet

  beforeAll(async () => {
    if (store === 'redis') redis = await startRedis()
    server = await startServer(redis ? { LABVIRT_STORE_URL: redis.url } : {})
    api = await adminWhenReady(server.url)
    const health = await api.get('/api/health')
    expect(health.body.store).toMatchObject({ kind: store, ok: true })
    set = await createLabSet(api, 'crud')
  })

  afterAll(async () => {
    await server?.dispose()
    await redis?.dispose()
  })

  it.each(specs)('$resource: create, list, read, update, stale update, delete', async ({ resource, body, field, values }) => {
    const base = `/api/${resource}`
    const input = body(set)
    const name: string = input.name ?? input.username

    // Create: 201, id = name, revision 1.
    const created = await api.post(base, input)
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toMatchObject({ id: name, revision: 1 })
    expect(typeof created.body.createdAt).toBe('string')
    if (resource === 'images') {
      expect(created.body).toMatchObject({ format: 'qcow2', virtualSize: IMAGE_MIB * 1024 * 1024 })
      expect(await fileExists(join(server.dataDir, 'images', created.body.file))).toBe(true)
    }
    if (resource === 'users') expect(JSON.stringify(created.body)).not.toMatch(/passwordHash|scrypt/i)

    // The same name again: 409, and the record is untouched.
    const again = await api.post(base, input)
    expect(again.status, JSON.stringify(again.body)).toBe(409)

    // List contains it.
    const list = await api.get(base)
    expect(list.status).toBe(200)
    expect(Array.isArray(list.body)).toBe(true)
    expect(list.body.find((r: any) => r.id === name)).toMatchObject({ id: name, revision: 1 })

    // Read.
    const read = await api.get(`${base}/${name}`)
    expect(read.status).toBe(200)
    expect(read.body).toMatchObject({ id: name, revision: 1 })
    const original = read.body[field]

    // Update with the current revision: 200, revision 2, the change stored.
    const put = await api.put(`${base}/${name}`, { ...read.body, [field]: values[0], revision: 1 })
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(put.body).toMatchObject({ id: name, revision: 2, [field]: values[0] })
    expect(put.body[field]).not.toEqual(original)
    const afterPut = await api.get(`${base}/${name}`)
    expect(afterPut.body).toMatchObject({ revision: 2, [field]: values[0] })

    // Update with the old revision: 409 naming the current revision, nothing changed.
    const stale = await api.put(`${base}/${name}`, { ...read.body, [field]: values[1], revision: 1 })
    expect(stale.status, JSON.stringify(stale.body)).toBe(409)
    expect(stale.body.error).toBe('conflict')
    expect(String(stale.body.message)).toMatch(/2/)
    const afterStale = await api.get(`${base}/${name}`)
    expect(afterStale.body).toEqual(afterPut.body)
    if (resource === 'users') expect.soft(JSON.stringify(stale.body), 'a 409 must not leak the password hash').not.toMatch(/passwordHash|scrypt/i)

    // Delete with a stale revision: 409, still there.
    const staleDelete = await api.delete(`${base}/${name}?revision=1`)
    expect(staleDelete.status, JSON.stringify(staleDelete.body)).toBe(409)
    if (resource === 'users') expect.soft(JSON.stringify(staleDelete.body), 'a 409 must not leak the password hash').not.toMatch(/passwordHash|scrypt/i)
    expect((await api.get(`${base}/${name}`)).status).toBe(200)

    // Delete with the current revision: 204; then 404, and gone from the list.
    const del = await api.delete(`${base}/${name}?revision=2`)
    expect(del.status, JSON.stringify(del.body)).toBe(204)
    const gone = await api.get(`${base}/${name}`)
    expect(gone.status).toBe(404)
    expect(gone.body.error).toBe('not_found')
    expect((await api.get(base)).body.find((r: any) => r.id === name)).toBeUndefined()
    if (resource === 'images') expect(await fileExists(join(server.dataDir, 'images', created.body.file))).toBe(false)

    // Delete again, update a deleted record: 404.
    expect((await api.delete(`${base}/${name}`)).status).toBe(404)
    expect((await api.put(`${base}/${name}`, { ...read.body, revision: 2 })).status).toBe(404)
  })

  it('records of one collection never show up in another', async () => {
    const all: Record<string, string[]> = {}
    for (const r of ['images', 'profiles', 'clients', 'labs', 'terminals', 'users'] as const) {
      const res = await api.get(`/api/${r}`)
      expect(res.status).toBe(200)
      all[r] = res.body.map((x: any) => x.id)
    }
    expect(all.images).toEqual([set.image.id])
    expect(all.profiles).toEqual([set.profile.id])
    expect(all.clients).toEqual([set.client.id])
    expect(all.labs).toEqual([set.lab.id])
    expect(all.terminals).toEqual([set.terminal.id])
    expect(all.users).toEqual(['admin'])
  })
})
