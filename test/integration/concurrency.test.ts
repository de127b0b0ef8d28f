import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient, type Answer } from '../helpers/client'
import { adminWhenReady, bodies, create, createLabSet, type LabSet, uniqueIp, uniqueName } from '../helpers/fixtures'
import { startRedis, type TestRedis } from '../helpers/redis'
import { startServer, type TestServer } from '../helpers/server'

// Optimistic concurrency over HTTP: writers holding the same revision race, and exactly one wins,
// on the file store (a lock in the process) as on Redis (a compare-and-set in Redis).

const ROUNDS = 20

describe.each(['fs', 'redis'] as const)('concurrent writes on the %s store', (store) => {
  let redis: TestRedis | undefined
  let server: TestServer
  let api: ApiClient
  let set: LabSet
  /** One client per racer: separate connections, as two browsers would have. */
  let racers: ApiClient[]

  beforeAll(async () => {
    if (store === 'redis') redis = await startRedis()
    server = await startServer(redis ? { LABVIRT_STORE_URL: redis.url } : {})
    api = await adminWhenReady(server.url)
    set = await createLabSet(api, 'race')
    racers = Array.from({ length: 10 }, () => {
      const c = new ApiClient(server.url)
      c.cookie = api.cookie
      return c
    })
  })

  afterAll(async () => {
    await server?.dispose()
    await redis?.dispose()
  })

  it.each(['labs', 'clients'] as const)(`two PUTs of one %s with the same revision, ${ROUNDS} rounds: exactly one 200 and one 409`, async (resource) => {
    const id = resource === 'labs' ? set.lab.id : set.client.id
    const path = `/api/${resource}/${id}`
    for (let round = 0; round < ROUNDS; round++) {
      const before = (await api.get(path)).body
      const r = before.revision
      const answers = await Promise.all(
        ['a', 'b'].map((who, i) => racers[i]!.put(path, { ...before, description: `round ${round} by ${who}` })),
      )
      const statuses = answers.map((a) => a.status).sort()
      expect(statuses, `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`).toEqual([200, 409])
      const winner = answers.find((a) => a.status === 200)!
      const loser = answers.find((a) => a.status === 409)!
      expect(winner.body.revision).toBe(r + 1)
      expect(loser.body.error).toBe('conflict')
      // The stored record is the winner's, at r + 1: the loser changed nothing.
      const after = (await api.get(path)).body
      expect(after.revision).toBe(r + 1)
      expect(after.description).toBe(winner.body.description)
    }
  })

  it('ten PUTs with the same revision at once: exactly one wins', async () => {
    const path = `/api/labs/${set.lab.id}`
    for (let round = 0; round < 5; round++) {
      const before = (await api.get(path)).body
      const answers = await Promise.all(racers.map((c, i) => c.put(path, { ...before, description: `ten ${round} ${i}` })))
      const ok = answers.filter((a) => a.status === 200)
      expect(ok, JSON.stringify(answers.map((a) => [a.status, a.body?.error]))).toHaveLength(1)
      expect(answers.filter((a) => a.status === 409)).toHaveLength(answers.length - 1)
      const after = (await api.get(path)).body
      expect(after).toMatchObject({ revision: before.revision + 1, description: ok[0]!.body.description })
    }
  })

  it('a PUT and a DELETE with the same revision at once: one wins, the other changes nothing', async () => {
    for (let round = 0; round < 10; round++) {
      const client = await create(api, 'clients', bodies.client(uniqueName('pd')))
      const path = `/api/clients/${client.id}`
      const [put, del] = await Promise.all([
        racers[0]!.put(path, { ...client, description: 'changed' }),
        racers[1]!.delete(`${path}?revision=${client.revision}`),
      ])
      const after = await api.get(path)
      if (put.status === 200) {
        expect(del.status, JSON.stringify(del.body)).toBe(409)
        expect(after.body).toMatchObject({ revision: 2, description: 'changed' })
      } else {
        expect(del.status, JSON.stringify([put.body, del.body])).toBe(204)
        expect(put.status).toBe(404)
        expect(after.status).toBe(404)
      }
    }
  })

  it('two creates of one name at once: exactly one 201', async () => {
    for (let round = 0; round < 10; round++) {
      const body = bodies.client(uniqueName('twin'))
      const answers: Answer[] = await Promise.all([racers[0]!.post('/api/clients', body), racers[1]!.post('/api/clients', body)])
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409])
      expect((await api.get(`/api/clients/${body.name}`)).body.revision).toBe(1)
    }
  })

  // Names are not the only thing that must be unique: a MAC base identifies a lab's seats on the
  // network, an IP address identifies a terminal. Checking "nobody has it" and then writing is a
  // race unless the two happen as one.
  it('two labs created at once with the same MAC base: exactly one 201', async () => {
    for (let round = 0; round < 5; round++) {
      const macBase = `52:54:01:${(round + 16).toString(16)}:${(store === 'fs' ? 0x10 : 0x20).toString(16)}:00`
      const answers = await Promise.all(
        [0, 1].map((i) => racers[i]!.post('/api/labs', { ...bodies.lab(set.profile.id), macBase })),
      )
      expect(answers.map((a) => a.status).sort(), `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`).toEqual([201, 409])
    }
  })

  it('two terminals created at once with the same IP address: exactly one 201', async () => {
    for (let round = 0; round < 5; round++) {
      const ip = uniqueIp()
      const answers = await Promise.all(
        [0, 1].map((i) => racers[i]!.post('/api/terminals', { ...bodies.terminal(set.lab.id), ip })),
      )
      expect(answers.map((a) => a.status).sort(), `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`).toEqual([201, 409])
    }
  })
})
