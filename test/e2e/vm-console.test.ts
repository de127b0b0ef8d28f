import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, ApiClient } from '../helpers/client'
import { bodies, create } from '../helpers/fixtures'
import { screenshot, startBrowser, type Page, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'
import { waitFor } from '../integration/vms/vm-helpers'

// A VM's page and its console in Chromium, on a real QEMU seat (TCG) whose firmware screen gives
// the console pixels to show.
let server: TestServer
let browser: TestBrowser
let admin: ApiClient
let page: Page
const VIEWER = { username: 'viewer', password: 'viewer-password-1', role: 'viewer' }
const LAB = 'cons'
const SEAT = `${LAB}-1`

async function vmState(id: string) {
  return (await admin.get(`/api/vms/${id}`)).body
}

beforeAll(async () => {
  // Who is on a seat comes from the launcher's heartbeats here, so the test can sit a terminal on it.
  server = await startServer({ LABVIRT_CONNECTION_POLL: '0.2', LABVIRT_CONNECTION_TRACKING: 'heartbeat' }, { vms: true })
  admin = await adminClient(server.url)
  expect((await admin.post('/api/users', VIEWER)).status).toBe(201)
  const image = await create(admin, 'images', bodies.image('consimg'))
  // Nothing answers on the blank seat's port: running counts as ready (probe `none`).
  const profile = await create(admin, 'profiles', { ...bodies.profile(image.id, 'consprof'), probe: 'none' })
  await create(admin, 'labs', { ...bodies.lab(profile.id, undefined, LAB), size: 1 })
  await waitFor(`${SEAT} running`, 90_000, async (see) => {
    const vm = await vmState(SEAT)
    see(vm.state)
    return vm.state === 'running' && vm.pid
  }, 500)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

/** A new tab on `path`, signed in afresh as `user` (admin by default). */
const signedIn = (path = '/', user?: { username: string; password: string }) => browser.signedIn(server.url, path, user)

const consoleView = (p: Page) => p.locator('.vm-console').getAttribute('data-console')

/** Pixels of the noVNC canvas that are not black, read back from the canvas itself. */
const litPixels = (p: Page) =>
  p.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('.console-screen canvas')
    if (!canvas?.width || !canvas.height) return 0
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
    let lit = 0
    for (let i = 0; i < data.length; i += 4) if (data[i]! | data[i + 1]! | data[i + 2]!) lit++
    return lit
  })

/** The guest screen's own width and the width it is shown at. */
const canvasWidths = (p: Page) =>
  p.evaluate(() => {
    const c = document.querySelector<HTMLCanvasElement>('.console-screen canvas')!
    return { natural: c.width, css: Math.round(c.getBoundingClientRect().width) }
  })

/** Every value `.vm-console[data-console]` takes from now on, as the DOM changes. */
async function recordViews(p: Page) {
  await p.evaluate(() => {
    const w = window as unknown as { views: string[] }
    w.views = []
    const note = () => {
      const v = document.querySelector('.vm-console')?.getAttribute('data-console')
      if (v && v !== w.views.at(-1)) w.views.push(v)
    }
    note()
    new MutationObserver(note).observe(document.body, { subtree: true, attributes: true, childList: true })
  })
}
const views = (p: Page) => p.evaluate(() => (window as unknown as { views: string[] }).views)

describe('the VM page and its console', () => {
  it('opens from the seat on the dashboard; the console connects after the handshake and shows the screen', async () => {
    page = await signedIn('/')
    await page.locator(`.seat[data-vm="${SEAT}"] a.seat-id`).click()
    await page.waitForURL((u) => u.pathname === `/vms/${SEAT}`)
    await page.locator('h1', { hasText: SEAT }).waitFor()
    await expect.poll(() => consoleView(page), { timeout: 30_000 }).toBe('connected')
    await expect.poll(() => litPixels(page), { timeout: 30_000, interval: 500 }).toBeGreaterThan(100)
    const text = await page.locator('.vm-facts').innerText()
    for (const label of ['QEMU state', 'PID', 'Started', 'Uptime', 'Profile', 'Host', 'Open consoles']) expect(text).toContain(label)
    expect(text).toContain(String((await vmState(SEAT)).pid))
    // The console is counted on the VM, live.
    await expect.poll(async () => Number(await page.locator('[data-field=consoles]').innerText()), { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
    expect((await vmState(SEAT)).consoles).toBeGreaterThanOrEqual(1)
    // The uptime ticks.
    const before = await page.locator('[data-field=uptime]').innerText()
    await expect.poll(() => page.locator('[data-field=uptime]').innerText(), { timeout: 5000 }).not.toBe(before)
    await screenshot(page, 'vm-console-en')
    // A tablet's width: the screen shrinks to fit, nothing spills out of the page.
    await page.setViewportSize({ width: 768, height: 900 })
    await expect.poll(() => page.evaluate(() => document.querySelector('.console-screen canvas')!.getBoundingClientRect().right <= 768)).toBe(true)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768)
    await screenshot(page, 'vm-console-768')
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  it('sends Ctrl+Alt+Del and other chords through the server', async () => {
    await page.getByRole('button', { name: 'Send Ctrl+Alt+Del' }).click()
    await expect.poll(() => page.locator('.console-note').innerText()).toBe('Sent Ctrl+Alt+Del')
    await page.locator('.keys-menu summary').click()
    await page.getByRole('button', { name: 'Ctrl+Alt+F2' }).click()
    await expect.poll(() => page.locator('.console-note').innerText()).toBe('Sent Ctrl+Alt+F2')
    expect(await page.locator('.keys-menu').getAttribute('open')).toBeNull()
  })

  it('scales to fit without enlarging, or 1:1 with scrolling; goes full screen and back', async () => {
    const shown = () => canvasWidths(page)
    // 1280 px wide: the fitted screen stays at its own size (720 px of firmware text), never enlarged.
    await expect.poll(async () => { const s = await shown(); return s.css === s.natural }).toBe(true)
    // A window too low for the screen: 1:1 scrolls, fit shrinks it.
    await page.locator('.console-bar select').selectOption('actual')
    await page.setViewportSize({ width: 1280, height: 500 })
    await expect.poll(async () => { const s = await shown(); return s.css === s.natural }).toBe(true)
    expect(await page.evaluate(() => localStorage.getItem('labvirt.console.scale'))).toBe('actual')
    await page.locator('.console-bar select').selectOption('fit')
    await expect.poll(async () => { const s = await shown(); return s.css < s.natural }).toBe(true)
    await page.setViewportSize({ width: 1280, height: 900 })

    await page.getByRole('button', { name: 'Full screen' }).click()
    await expect.poll(() => page.evaluate(() => document.fullscreenElement?.classList.contains('vm-console') ?? false)).toBe(true)
    await page.getByRole('button', { name: 'Exit full screen' }).click()
    await expect.poll(() => page.evaluate(() => document.fullscreenElement === null)).toBe(true)
  })

  it('types pasted text into the VM, and shows a refused text beside the field', async () => {
    await page.getByRole('button', { name: 'Type text…' }).click()
    const dialog = page.locator('dialog.paste')
    await dialog.locator('textarea').fill('café')
    await dialog.getByRole('button', { name: 'Type it' }).click()
    await expect.poll(() => dialog.locator('#paste-text-error').innerText()).toMatch(/ASCII/)
    await dialog.locator('textarea').fill('echo hello\n')
    await dialog.getByRole('button', { name: 'Type it' }).click()
    await expect.poll(() => page.locator('.console-note').innerText()).toBe('Typed 11 characters')
    expect(await page.locator('dialog.paste').count()).toBe(0)
  })

  it('in Spanish, with the console still connected', async () => {
    await page.locator('.topbar select').selectOption('es')
    await page.locator('h2', { hasText: 'Consola' }).waitFor()
    await page.getByRole('button', { name: 'Enviar Ctrl+Alt+Supr' }).waitFor()
    expect(await consoleView(page)).toBe('connected')
    expect(await page.locator('.vm-facts').innerText()).toContain('Estado de QEMU')
    await screenshot(page, 'vm-console-es')
    await page.locator('.topbar select').selectOption('en')
    await page.locator('h2', { hasText: 'Console' }).waitFor()
  })

  it('opens the console alone in a new window', async () => {
    const [popup] = await Promise.all([browser.context.waitForEvent('page'), page.getByRole('button', { name: 'Open in a new window' }).click()])
    await popup.waitForURL((u) => u.pathname === `/vms/${SEAT}/console`)
    await expect.poll(() => consoleView(popup), { timeout: 30_000 }).toBe('connected')
    await expect.poll(() => litPixels(popup), { timeout: 30_000, interval: 500 }).toBeGreaterThan(100)
    expect(await popup.locator('.topbar').count()).toBe(0)
    // A window larger than the guest's screen shows it 1:1, not enlarged.
    await expect.poll(async () => { const s = await canvasWidths(popup); return s.css === s.natural }).toBe(true)
    await screenshot(popup, 'vm-console-window-en')
    await popup.close()
  })

  it('shows why the console cannot connect, as the server says it, with Retry', async () => {
    // A VM whose VNC socket is gone (QEMU runs on): the server refuses the console and says why.
    await rm(join(server.dataDir, 'run', `${SEAT}.vnc`))
    await page.reload()
    await expect.poll(() => consoleView(page), { timeout: 15_000 }).toBe('disconnected')
    expect(await page.locator('.console-reason').innerText()).toBe(`The VM "${SEAT}" has no console socket`)
    await page.locator('.vm-console').getByRole('button', { name: 'Retry' }).click()
    await expect.poll(() => consoleView(page)).toBe('disconnected')
    expect(await page.locator('.console-reason').innerText()).toContain('no console socket')
    await screenshot(page, 'vm-console-disconnected-en')
  })

  it('asks before stopping a VM a terminal is on; stopped, the console shows it and Start brings the screen back', async () => {
    const client = await create(admin, 'clients', bodies.client('conscli'))
    const terminal = await create(admin, 'terminals', { ...bodies.terminal(LAB, client.id, 'consterm'), ip: '127.0.0.1' })
    // The launcher asks for its seat and says its client is connected.
    const launcher = new ApiClient(server.url)
    const answer = await launcher.get('/api/terminal?format=json')
    expect(answer.body?.seat, JSON.stringify(answer.body)).toBe(SEAT)
    expect((await launcher.post('/api/terminal/heartbeat', { state: 'connected' })).status).toBe(204)
    await expect.poll(() => page.locator('.vm-facts').innerText(), { timeout: 15_000 }).toContain(terminal.id)

    await page.getByRole('toolbar', { name: `Actions on ${SEAT}` }).getByRole('button', { name: 'Stop' }).click()
    const confirm = page.locator('dialog.confirm')
    await expect.poll(() => confirm.innerText()).toContain(`${terminal.id} is connected to this VM`)
    await confirm.getByRole('button', { name: 'Cancel' }).click()
    expect(await confirm.count()).toBe(0)
    expect((await vmState(SEAT)).state).toBe('running')

    await recordViews(page)
    await page.getByRole('toolbar', { name: `Actions on ${SEAT}` }).getByRole('button', { name: 'Stop' }).click()
    await confirm.getByRole('button', { name: 'Stop anyway' }).click()
    await expect.poll(() => consoleView(page), { timeout: 30_000 }).toBe('not-running')
    await page.locator('.vm-console').getByText('The VM is not running').waitFor()
    await screenshot(page, 'vm-console-not-running-en')
    await page.locator('.vm-console').getByRole('button', { name: 'Start' }).click()
    await expect.poll(() => consoleView(page), { timeout: 60_000 }).toBe('connected')
    await expect.poll(() => litPixels(page), { timeout: 30_000, interval: 500 }).toBeGreaterThan(100)
    // Never "connected" before the handshake: after the stop, the console went through connecting.
    const seen = await views(page)
    expect(seen.at(-1)).toBe('connected')
    expect(seen.slice(seen.indexOf('not-running'))).toEqual(['not-running', 'connecting', 'connected'])
  })

  it('shows a viewer the VM without console and without actions', async () => {
    const viewer = await signedIn(`/vms/${SEAT}`, VIEWER)
    await viewer.locator('h1', { hasText: SEAT }).waitFor()
    await viewer.getByText('The console is for administrators only.').waitFor()
    expect(await viewer.locator('.vm-console').count()).toBe(0)
    expect(await viewer.locator('.vm-actions').count()).toBe(0)
    expect(await viewer.locator('button', { hasText: /^(Start|Stop|Kill|Reset)$/ }).count()).toBe(0)
    // The detached console is an administrators' page too.
    await viewer.goto(`${server.url}/vms/${SEAT}/console`)
    await viewer.waitForURL((u) => u.pathname === '/')
    await viewer.close()
  })
})
