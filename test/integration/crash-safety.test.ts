import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../helpers/client'
import { adminWhenReady, bodies, create, uniqueName } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'

// kill -9 the server while 20 clients write through the API, start it again on the same data
// dir: every file of the store parses, no temporary file survives the start, and every write that
// was acknowledged (2xx) is there with at least the acknowledged revision. The file store is where
// a torn write could happen, so that is the store tested here.

const WRITERS = 20
const ROUNDS = 3
/** How long the writers write before the kill, per round (about a second, varied)... */
const KILL_AFTER_MS = [1000, 800, 1300]
/** ...and at least this many acknowledged writes, so a slow machine still kills among writes. */
const MIN_ACKS = 2 * WRITERS
const MAX_WRITING_MS = 20_000

interface Ack {
  resource: 'labs' | 'clients'
  id: string
  revision: number
  description: string
}

async function storeFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name))
  }
  return out.sort()
}

const isTmp = (f: string) => f.split('/').pop()!.startsWith('.tmp-')

describe('crash safety of the file store', () => {
  let server: TestServer
  let profile: string

  beforeAll(async () => {
    server = await startServer()
    const api = await adminWhenReady(server.url)
    const image = await create(api, 'images', bodies.image())
    profile = (await create(api, 'profiles', bodies.profile(image.id))).id
  })

  afterAll(async () => {
    if (server) {
      // Keep the evidence of a failure: the server's output says what it saw at start.
      await server.dispose()
    }
  })

  it(`SIGKILL while ${WRITERS} clients write, ${ROUNDS} times: every record parses and every acknowledged write survives`, async () => {
    const acked = new Map<string, Ack>()
    const ack = (a: Ack) => {
      const key = `${a.resource}/${a.id}`
      const prev = acked.get(key)
      if (!prev || prev.revision < a.revision) acked.set(key, a)
    }
    let totalAcked = 0
    const stats: string[] = []

    for (let round = 0; round < ROUNDS; round++) {
      const admin = await adminWhenReady(server.url)
      let stop = false
      let acksThisRound = 0

      // Each writer creates a record (labs and clients in turn), then updates it a few times with
      // the revision it was given; any network error means the server is gone, and ends it.
      const writer = async (w: number) => {
        const api = new ApiClient(server.url)
        api.cookie = admin.cookie
        for (let n = 0; !stop; n++) {
          const resource = (w + n) % 2 ? 'labs' : 'clients'
          const name = uniqueName(`r${round}w${w}`)
          const body = resource === 'labs' ? bodies.lab(profile, undefined, name) : bodies.client(name)
          let res
          try {
            res = await api.post(`/api/${resource}`, body)
          } catch {
            return
          }
          if (res.status !== 201) throw new Error(`create ${resource}: ${res.status} ${JSON.stringify(res.body)}`)
          let rec = res.body
          ack({ resource, id: rec.id, revision: rec.revision, description: rec.description })
          acksThisRound++
          for (let u = 0; u < 3 && !stop; u++) {
            const description = `round ${round} writer ${w} update ${u}`
            try {
              res = await api.put(`/api/${resource}/${rec.id}`, { ...rec, description })
            } catch {
              return
            }
            if (res.status !== 200) throw new Error(`update ${resource}: ${res.status} ${JSON.stringify(res.body)}`)
            rec = res.body
            ack({ resource, id: rec.id, revision: rec.revision, description })
            acksThisRound++
          }
        }
      }

      // Errors are caught at once (not only after the kill), so none goes unhandled meanwhile.
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w).then(() => undefined, (err) => String(err)))
      const started = Date.now()
      await new Promise((r) => setTimeout(r, KILL_AFTER_MS[round]))
      while (acksThisRound < MIN_ACKS && Date.now() - started < MAX_WRITING_MS) await new Promise((r) => setTimeout(r, 20))
      const wroteMs = Date.now() - started
      await server.kill()
      stop = true
      // Every writer ends: its request fails at once against a dead server. Bounded all the same.
      const settled = await Promise.race([
        Promise.all(writers),
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000)),
      ])
      expect(settled, 'writers did not stop within 10 s of the kill').not.toBe('timeout')
      expect((settled as (string | undefined)[]).filter(Boolean), 'writes refused before the kill').toEqual([])

      // What the crash left behind; plus one torn temporary file of our own, so the sweep is
      // always put to the test even when the kill happened to fall between writes.
      const storeDir = join(server.dataDir, 'store')
      const leftTmp = (await storeFiles(storeDir)).filter(isTmp).length
      await writeFile(join(storeDir, 'labs', '.tmp-planted0000'), '{"name":"torn","rev')

      await server.restart()

      const files = await storeFiles(storeDir)
      expect(files.filter(isTmp).map((f) => relative(storeDir, f)), 'temporary files after the start').toEqual([])
      for (const f of files) {
        const text = await readFile(f, 'utf8')
        expect(() => JSON.parse(text), `${relative(storeDir, f)} does not parse: ${JSON.stringify(text.slice(0, 200))}`).not.toThrow()
      }

      // Every acknowledged write, from this round and the ones before, is there: through the API
      // and on disk, at the acknowledged revision or (its writer's next write was in flight) one more.
      const api = await adminWhenReady(server.url)
      for (const a of acked.values()) {
        const got = await api.get(`/api/${a.resource}/${a.id}`)
        expect(got.status, `${a.resource}/${a.id}: ${JSON.stringify(got.body)}`).toBe(200)
        expect(got.body.revision, `${a.resource}/${a.id}`).toBeGreaterThanOrEqual(a.revision)
        expect(got.body.revision, `${a.resource}/${a.id}`).toBeLessThanOrEqual(a.revision + 1)
        if (got.body.revision === a.revision) expect(got.body.description, `${a.resource}/${a.id}`).toBe(a.description)
        const onDisk = JSON.parse(await readFile(join(storeDir, a.resource, a.id), 'utf8'))
        expect(onDisk).toEqual(got.body)
      }
      // The lists agree with the records.
      for (const resource of ['labs', 'clients'] as const) {
        const list = await api.get(`/api/${resource}`)
        expect(list.status).toBe(200)
        const ids = new Set(list.body.map((r: any) => r.id))
        for (const a of acked.values()) if (a.resource === resource) expect(ids.has(a.id), `${resource}/${a.id} listed`).toBe(true)
      }

      totalAcked += acksThisRound
      stats.push(`round ${round}: ${acksThisRound} acknowledged writes in ${wroteMs} ms, ${leftTmp} temporary file(s) left by the kill, ${files.length} files after restart`)
      // Enough writes happened for the kill to land among them.
      expect(acksThisRound, `round ${round}: too few writes to mean anything`).toBeGreaterThanOrEqual(MIN_ACKS)
    }
    console.log(`[crash-safety] ${stats.join('; ')}; ${acked.size} records checked, ${totalAcked} acknowledged writes in all`)
  }, 120_000)
})
