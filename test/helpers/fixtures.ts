import { randomBytes } from 'node:crypto'
import { ApiClient, type Answer } from './client'
import { ADMIN_PASSWORD } from './server'

// Valid request bodies for every resource of the admin API (see schemas/*.ts), and a helper that
// creates a consistent set of records through the API, for any test that needs a populated store.

let counter = 0

/**
 * A fresh record name: `<prefix>-<counter><random>`, within the 24 characters of a Name
 * (lowercase letters, digits, inner hyphens, starting with a letter).
 */
export function uniqueName(prefix = 't'): string {
  counter = (counter + 1) % 1_000_000
  const name = `${prefix.slice(0, 10)}-${counter.toString(36)}${randomBytes(3).toString('hex')}`
  if (!/^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$/.test(name)) throw new Error(`bad fixture name: ${name}`)
  return name
}

let ipCounter = 0
/** A fresh IPv4 address for a terminal (terminals cannot share one): 10.<pid-ish>.x.y, y in 1..254. */
export function uniqueIp(): string {
  do ipCounter = (ipCounter + 1) % 65536
  while ((ipCounter & 255) === 0 || (ipCounter & 255) === 255)
  return `10.${process.pid % 250}.${ipCounter >> 8}.${ipCounter & 255}`
}

export const IMAGE_MIB = 16

/** Bodies of POST /api/<resource>; references name the records they point to. */
export const bodies = {
  image: (name = uniqueName('img')) => ({ name, description: 'blank test disk', sizeMiB: IMAGE_MIB }),
  profile: (image: string, name = uniqueName('prof')) => ({
    name,
    description: 'test profile',
    memoryMiB: 256,
    cpus: 1,
    nic: 'virtio' as const,
    disks: [{ image, bus: 'ide' as const, media: 'disk' as const }],
    active: true,
  }),
  client: (name = uniqueName('cli')) => ({
    name,
    description: 'test client class',
    program: 'xfreerdp',
    args: ['/v:%HOST%:%PORT%', '/u:%USER%', '/f'],
  }),
  lab: (profile: string, client?: string, name = uniqueName('lab')) => ({
    name,
    description: 'test lab',
    size: 2,
    max: 4,
    profiles: [profile],
    network: { mode: 'user' as const },
    ...(client ? { client } : {}),
  }),
  terminal: (lab: string, client?: string, name = uniqueName('term')) => ({
    name,
    description: 'test terminal',
    ip: uniqueIp(),
    lab,
    ...(client ? { client } : {}),
    params: { USER: 'student' },
  }),
  user: (name = uniqueName('user')) => ({ username: name, password: 'a-long-test-password', role: 'viewer' as const }),
}

export type Resource = 'images' | 'profiles' | 'clients' | 'labs' | 'terminals' | 'users'

/** The records a test set holds, as the API answered their creation. */
export interface LabSet {
  image: any
  profile: any
  client: any
  lab: any
  terminal: any
}

function expectStatus(res: Answer, status: number, what: string) {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`)
  }
  return res.body
}

/** POST /api/<resource> and return the created record; throws unless the answer is 201. */
export async function create(api: ApiClient, resource: Resource, body: unknown): Promise<any> {
  return expectStatus(await api.post(`/api/${resource}`, body), 201, `POST /api/${resource}`)
}

/**
 * Creates image -> profile -> client -> lab -> terminal through the API, each referring to the
 * previous ones, and returns them. `prefix` keeps the names of several sets apart.
 */
export async function createLabSet(api: ApiClient, prefix = 'set'): Promise<LabSet> {
  const image = await create(api, 'images', bodies.image(uniqueName(`${prefix}i`)))
  const profile = await create(api, 'profiles', bodies.profile(image.id, uniqueName(`${prefix}p`)))
  const client = await create(api, 'clients', bodies.client(uniqueName(`${prefix}c`)))
  const lab = await create(api, 'labs', bodies.lab(profile.id, client.id, uniqueName(`${prefix}l`)))
  const terminal = await create(api, 'terminals', bodies.terminal(lab.id, client.id, uniqueName(`${prefix}t`)))
  return { image, profile, client, lab, terminal }
}

/** Deletes a set made by createLabSet, in the order references allow. */
export async function deleteLabSet(api: ApiClient, set: LabSet) {
  for (const [resource, rec] of [
    ['terminals', set.terminal],
    ['labs', set.lab],
    ['clients', set.client],
    ['profiles', set.profile],
    ['images', set.image],
  ] as const) {
    expectStatus(await api.delete(`/api/${resource}/${rec.id}`), 204, `DELETE /api/${resource}/${rec.id}`)
  }
}

/**
 * An admin client once the server lets admin in. A server on Redis may answer before its admin
 * bootstrap has reached the store (it retries every second), so login is retried until `timeoutMs`.
 */
export async function adminWhenReady(url: string, timeoutMs = 15_000): Promise<ApiClient> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    const api = new ApiClient(url)
    try {
      const res = await api.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      if (res.status === 200) return api
      last = `${res.status} ${JSON.stringify(res.body)}`
      // 503: the store is not reachable yet; 401: admin is not created yet; 429: the login throttle
      // counted those 401s, and says how long to wait.
      const retryAfter = Number(res.headers.get('retry-after'))
      if (res.status === 429 && retryAfter > 0) {
        await new Promise((r) => setTimeout(r, Math.min(retryAfter * 1000, Math.max(0, deadline - Date.now()))))
        continue
      }
    } catch (err) {
      last = String(err)
    }
    await new Promise((r) => setTimeout(r, 300))
  }
  throw new Error(`admin could not log in within ${timeoutMs} ms: ${last}`)
}
