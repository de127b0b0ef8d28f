import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../../helpers/client'
import { bodies, create, uniqueName } from '../../helpers/fixtures'
import { StreamReader } from '../../helpers/stream'
import { listVms, makeLab, startVmServer, type VmWorld } from '../vms/vm-helpers'

// GET /api/stream: the console's one live feed of VM statuses, record changes and the event log.

let w: VmWorld
const open: StreamReader[] = []
async function stream(cookie = w.api.cookie, lang?: string) {
  const { status, reader } = await StreamReader.open(w.server.url, cookie, lang)
  expect(status).toBe(200)
  open.push(reader!)
  return reader!
}
/** The stream's first `vms` is GET /api/vms in Spanish: the seat killed in the first test says why it exited, in Spanish. */
async function inSpanish(s: StreamReader) {
  const first = await s.next('vms', (e) => e.event === 'vms')
  const es = new ApiClient(w.server.url, 'es')
  es.cookie = w.api.cookie
  expect(first.data).toEqual((await es.get('/api/vms')).body)
  const exited = (first.data as any[]).find((v) => v.lastExit)
  const english = (await listVms(w.api)).find((v) => v.id === exited?.id) as any
  expect(exited.lastExit.reason).not.toBe(english.lastExit.reason)
}
beforeAll(async () => {
  w = await startVmServer()
})
afterAll(async () => {
  for (const r of open) r.close()
  await w?.dispose()
})

describe('GET /api/stream', () => {
  it('needs a session', async () => {
    expect((await StreamReader.open(w.server.url)).status).toBe(401)
    expect((await StreamReader.open(w.server.url, 'labvirt_session=' + 'x'.repeat(43))).status).toBe(401)
  })

  it('sends the VMs, then a lab, its seats turning running, a seat dying and coming back, and the log', async () => {
    const s = await stream()
    const first = await s.next('vms', (e) => e.event === 'vms')
    expect(s.events[0]!.event).toBe('vms')
    expect(first.data).toEqual(await listVms(w.api))

    const { lab } = await makeLab(w.api, 2, 'live')
    const seats = [`${lab.id}-1`, `${lab.id}-2`]
    await s.next('change of the lab', (e) => e.event === 'change' && e.data.kind === 'labs' && e.data.id === lab.id)
    await s.next('its creation in the log', (e) => e.event === 'event' && e.data.id === lab.id && e.data.action === 'create')
    const running = new Map<string, any>()
    // Running and ready (its profile's probe is `none`: ready once the probe task has seen it run),
    // the last change a cold start makes to a seat.
    for (const id of seats) running.set(id, (await s.next(`${id} running`, (e) => e.event === 'vm' && e.data.id === id && e.data.state === 'running' && e.data.pid > 0 && e.data.ready, 30_000)).data)
    // What the stream says is what GET /api/vms says.
    const listed = await listVms(w.api)
    for (const id of seats) expect(listed.find((v) => v.id === id)).toEqual(running.get(id))
    // Batched: a cold start is a few messages per seat, not one per write.
    const vmMessages = s.events.filter((e) => e.event === 'vm' && seats.includes(e.data.id)).length
    expect(vmMessages).toBeLessThanOrEqual(12)

    // Killed from outside: up again with another pid, and the stream says it died (its last exit;
    // the moment it was down may fall inside one batch when the restart is quick).
    const victim = running.get(seats[0]!)!
    const mark = s.events.length
    const killedAt = Date.now()
    process.kill(victim.pid, 'SIGKILL')
    const back = await s.next(`${seats[0]} running again`, (e) => e.event === 'vm' && e.data.id === seats[0] && e.data.state === 'running' && e.data.pid !== victim.pid, 60_000, mark)
    expect(back.data.pid).toBeGreaterThan(0)
    expect(Date.parse(back.data.lastExit.at)).toBeGreaterThanOrEqual(killedAt - 1000)

    // Shrinking the lab removes its second seat.
    const cur = await w.api.get(`/api/labs/${lab.id}`)
    expect((await w.api.put(`/api/labs/${lab.id}`, { ...cur.body, size: 1 })).status).toBe(200)
    await s.next(`${seats[1]} removed`, (e) => e.event === 'vm-removed' && e.data.id === seats[1], 30_000, mark)
  })

  it('reports record changes by kind, and speaks the reader\'s language', async () => {
    const s = await stream(w.api.cookie, 'es')
    await inSpanish(s)

    const image = await create(w.api, 'images', bodies.image())
    await s.next('image change', (e) => e.event === 'change' && e.data.kind === 'images' && e.data.id === image.id)
    const user = uniqueName('u')
    await create(w.api, 'users', bodies.user(user))
    await s.next('user change', (e) => e.event === 'change' && e.data.kind === 'users' && e.data.id === user)
    const mark = s.events.length
    expect((await w.api.delete(`/api/images/${image.id}`)).status).toBeLessThan(300)
    await s.next('image deleted', (e) => e.event === 'change' && e.data.kind === 'images' && e.data.id === image.id, 10_000, mark)
  })

  it('speaks the language of ?lang=, as a browser\'s EventSource asks for it', async () => {
    const { reader } = await StreamReader.open(w.server.url, w.api.cookie, 'es', { langInQuery: true })
    open.push(reader!)
    await inSpanish(reader!)
  })

  it('ends when its session is signed out', async () => {
    const viewer = new ApiClient(w.server.url)
    const name = uniqueName('v')
    await create(w.api, 'users', bodies.user(name))
    await viewer.login(name, bodies.user(name).password)
    const s = await stream(viewer.cookie)
    await s.next('vms', (e) => e.event === 'vms')
    expect((await viewer.post('/api/auth/logout')).status).toBeLessThan(300)
    await s.end()
  })
})
