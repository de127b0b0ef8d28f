import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../../helpers/client'
import { bodies, create, uniqueName } from '../../helpers/fixtures'
import { openConsole } from '../../helpers/rfb'
import { action, getVm, makeLab, startVmServer, toolQmp, type VmWorld, waitFor } from '../vms/vm-helpers'
import type { QmpClient } from '#server/qemu/qmp/index'

// A VM's console: the admin-only WebSocket to its VNC socket, the check the console page makes
// first, and keys sent through QMP.

let w: VmWorld
let seat: string
let stopped: string
let viewer: ApiClient
let qmp: QmpClient
const vncClients = async () => ((await qmp.execute('query-vnc')).clients ?? []).length

async function running(id: string) {
  return waitFor(`${id} running`, 30_000, async (see) => {
    const vm = await getVm(w.api, id)
    see(vm?.state)
    return vm?.state === 'running' && vm.pid ? vm : undefined
  })
}

beforeAll(async () => {
  // Who is connected (the consoles count) is looked at every 200 ms here.
  w = await startVmServer({ LABVIRT_CONNECTION_POLL: '0.2' })
  const { lab } = await makeLab(w.api, 2, 'con')
  seat = `${lab.id}-1`
  stopped = `${lab.id}-2`
  await running(seat)
  await running(stopped)
  await action(w.api, stopped, 'stop')
  qmp = await toolQmp(w.runDir, seat)
  const name = uniqueName('view')
  await create(w.api, 'users', bodies.user(name))
  viewer = await new ApiClient(w.server.url).login(name, bodies.user(name).password)
})
afterAll(async () => {
  qmp?.close()
  await w?.dispose()
})

describe('GET /api/vms/:id/vnc (WebSocket)', () => {
  it('is refused before any VNC connection: no session 401, viewer 403, foreign Origin 403, unknown VM 404, stopped VM 409', async () => {
    const url = w.server.url
    const cases: [string, Parameters<typeof openConsole>[2], string, number][] = [
      ['no session', {}, seat, 401],
      ['a viewer', { cookie: viewer.cookie }, seat, 403],
      ['another Origin', { cookie: w.api.cookie, origin: 'http://evil.example' }, seat, 403],
      ['the same host on another port', { cookie: w.api.cookie, origin: url.replace(/:(\d+)$/, (_, p) => `:${Number(p) + 1}`) }, seat, 403],
      ['an unknown VM', { cookie: w.api.cookie }, 'nosuchvm-1', 404],
      ['a stopped VM', { cookie: w.api.cookie, lang: 'es' }, stopped, 409],
    ]
    for (const [what, opts, vm, status] of cases) {
      const res = await openConsole(url, vm, opts)
      expect(res.status, what).toBe(status)
      expect(typeof res.body?.message, what).toBe('string')
    }
    expect((await openConsole(url, stopped, { cookie: w.api.cookie, lang: 'es' })).body.message).toMatch(/no está en marcha|no se está ejecutando/)
    expect(await vncClients()).toBe(0)
    expect((await getVm(w.api, seat) as any).consoles).toBe(0)
  })

  it('with an admin session: the RFB 3.8 handshake, a screen with pixels, and the console counted on the VM', async () => {
    const res = await openConsole(w.server.url, seat, { cookie: w.api.cookie })
    expect(res.status).toBe(101)
    const rfb = res.rfb!
    try {
      const init = await rfb.handshake()
      expect(init.greeting).toBe('RFB 003.008\n')
      expect(init.width).toBeGreaterThan(0)
      expect(init.height).toBeGreaterThan(0)
      // The guest's firmware draws within moments; until then the screen may be black.
      await waitFor('a frame with non-black pixels', 20_000, async (see) => {
        const pixels = await rfb.frame(init.width, init.height, init.bitsPerPixel / 8)
        const lit = pixels.some((b) => b !== 0)
        see(`${pixels.length} bytes, lit: ${lit}`)
        return lit
      }, 200)
      expect(await vncClients()).toBe(1)
      await waitFor('consoles 1 on the VM', 10_000, async (see) => {
        const vm = (await getVm(w.api, seat)) as any
        see(vm?.consoles)
        return vm?.consoles === 1
      })
    } finally {
      res.ws!.close()
    }
    await waitFor('consoles back to 0', 10_000, async () => ((await getVm(w.api, seat)) as any)?.consoles === 0)
  })

  it('closes with 4000 and a translated reason when the VM goes', async () => {
    const res = await openConsole(w.server.url, seat, { cookie: w.api.cookie, lang: 'es' })
    expect(res.status).toBe(101)
    const rfb = res.rfb!
    await rfb.handshake()
    const vm = await running(seat)
    process.kill(vm.pid!, 'SIGKILL')
    await waitFor('the console closed', 10_000, async () => rfb.closed)
    expect(rfb.closed!.code).toBe(4000)
    expect(rfb.closed!.reason).toMatch(/pantalla/)
    qmp.close()
    await waitFor(`${seat} back`, 30_000, async () => {
      const v = await getVm(w.api, seat)
      return v?.state === 'running' && v.pid !== vm.pid
    })
    qmp = await toolQmp(w.runDir, seat)
  })
})

describe('an open console when its session ends', () => {
  it('closes with 4002 and a translated reason when its session is signed out, and another when its user is demoted', async () => {
    const name = uniqueName('adm')
    await create(w.api, 'users', { ...bodies.user(name), role: 'admin' })
    const signIn = () => new ApiClient(w.server.url).login(name, bodies.user(name).password)
    const [first, second] = [await signIn(), await signIn()]
    const sockets: { close(): void }[] = []
    const receiving = async (api: ApiClient, lang: string) => {
      const res = await openConsole(w.server.url, seat, { cookie: api.cookie, lang })
      expect(res.status).toBe(101)
      sockets.push(res.ws!)
      const rfb = res.rfb!
      const init = await rfb.handshake()
      await rfb.frame(init.width, init.height, init.bitsPerPixel / 8)
      return rfb
    }
    try {
      const es = await receiving(first, 'es')
      const en = await receiving(second, 'en')
      expect((await first.post('/api/auth/logout')).status).toBeLessThan(300)
      await waitFor('the signed-out console closed', 5_000, async () => es.closed)
      expect(es.closed).toEqual({ code: 4002, reason: 'Su sesión ha terminado: inicie sesión de nuevo' })
      // The other session of the same user still holds its console.
      expect(en.closed).toBeUndefined()
      const user = (await w.api.get(`/api/users/${name}`)).body
      expect((await w.api.put(`/api/users/${name}`, { revision: user.revision, role: 'viewer' })).status).toBe(200)
      await waitFor('the demoted user\'s console closed', 5_000, async () => en.closed)
      expect(en.closed).toEqual({ code: 4002, reason: 'Your session ended: sign in again' })
      await waitFor('no VNC client left', 10_000, async () => (await vncClients()) === 0)
    } finally {
      for (const ws of sockets) ws.close()
    }
  })
})

describe('GET /api/vms/:id/console', () => {
  it('says whether the console can open, and why not, in the reader\'s language', async () => {
    expect((await w.api.get(`/api/vms/${seat}/console`)).body).toEqual({ available: true })
    expect((await viewer.get(`/api/vms/${seat}/console`)).status).toBe(403)
    expect((await new ApiClient(w.server.url).get(`/api/vms/${seat}/console`)).status).toBe(401)
    expect((await w.api.get('/api/vms/nosuchvm-1/console')).status).toBe(404)
    const es = new ApiClient(w.server.url, 'es')
    es.cookie = w.api.cookie
    const down = await es.get(`/api/vms/${stopped}/console`)
    expect(down.status).toBe(409)
    expect(down.body.message).toContain(stopped)
    expect(down.body.message).not.toMatch(/is not running/)
  })
})

describe('keys and typing', () => {
  it('sends Ctrl-Alt-Delete through QMP: the guest firmware resets the VM', async () => {
    const reset = qmp.waitForEvent('RESET', { timeoutMs: 20_000 })
    // The firmware takes a moment to set up its keyboard handler: press until it resets.
    let got = false
    void reset.then(() => (got = true), () => {})
    await waitFor('a RESET after Ctrl-Alt-Delete', 20_000, async () => {
      const res = await w.api.post(`/api/vms/${seat}/keys`, { keys: ['ctrl', 'alt', 'delete'] })
      expect(res.status).toBe(200)
      return got
    }, 1000)
  })

  it('types text, and refuses bad keys and text with 400 naming the field, and a stopped VM with 409', async () => {
    const typed = await w.api.post(`/api/vms/${seat}/type`, { text: 'Hello, World!\n\tls -l | wc ~"$@"' })
    expect(typed.status).toBe(200)
    expect(typed.body.typed).toBe(31)
    const badKey = await w.api.post(`/api/vms/${seat}/keys`, { keys: ['ctrl', 'rm -rf'] })
    expect(badKey.status).toBe(400)
    expect(badKey.body.fields.map((f: any) => f.field)).toEqual(['keys.1'])
    expect((await w.api.post(`/api/vms/${seat}/keys`, { keys: [] })).status).toBe(400)
    const badText = await w.api.post(`/api/vms/${seat}/type`, { text: 'café' })
    expect(badText.status).toBe(400)
    expect(badText.body.fields[0].field).toBe('text')
    expect((await w.api.post(`/api/vms/${seat}/type`, { text: 'x'.repeat(1001) })).status).toBe(400)
    expect((await w.api.post(`/api/vms/${stopped}/keys`, { keys: ['ctrl', 'alt', 'delete'] })).status).toBe(409)
    expect((await w.api.post(`/api/vms/${stopped}/type`, { text: 'x' })).status).toBe(409)
    expect((await viewer.post(`/api/vms/${seat}/keys`, { keys: ['a'] })).status).toBe(403)
  })
})
