import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { screenshot, signIn, startBrowser, type Page, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// The terminals page in Chromium against the built server, with a real QEMU seat (TCG): an unknown
// terminal asks for a seat, an admin adopts it from the page, the terminal asks again and gets its
// seat, and the page shows it on that seat; a client class's command line previewed for it.

const MAC = '52:54:00:7e:01:02'
let server: TestServer
let admin: ApiClient
let browser: TestBrowser
let page: Page
let lab: string
let port: number

/** The terminal's own request, as the launcher makes it (no session). */
const ask = (mac = MAC) => fetch(`${server.url}/api/terminal?mac=${mac}`, { headers: { accept: 'application/json' } })
const OTHER_MAC = '52:54:00:7e:01:03'

beforeAll(async () => {
  // Connections come from the launcher's heartbeats: the test has no RDP client to watch.
  server = await startServer({ LABVIRT_CONNECTION_TRACKING: 'heartbeat' }, { vms: true })
  admin = await adminClient(server.url)
  const image = await create(admin, 'images', bodies.image())
  // Nothing answers on the blank seat's port: running counts as ready (probe `none`).
  const profile = await create(admin, 'profiles', { ...bodies.profile(image.id), probe: 'none' })
  const client = await create(admin, 'clients', bodies.client(uniqueName('rdp')))
  lab = (await create(admin, 'labs', { ...bodies.lab(profile.id, client.id, uniqueName('aula')), size: 1 })).id
  port = (await admin.get(`/api/labs/${lab}`)).body.network.hostPort
  browser = await startBrowser()
  page = await browser.page()
  await page.goto(`${server.url}/terminals`)
  await signIn(page)
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('the terminals page', () => {
  it('adopts an unknown terminal into a lab; asking again, the terminal gets its seat, and the page shows it there', { timeout: 120_000 }, async () => {
    const first = await ask()
    expect(first.status).toBe(403)

    // It is listed as pending (the page polls while no stream says so); adopt it with the suggested name.
    const row = page.locator(`tr[data-pending="${MAC.replaceAll(':', '-')}"]`)
    await row.waitFor({ timeout: 15_000 })
    await row.getByRole('button', { name: 'Adopt' }).click()
    await page.locator('#adopt-lab').selectOption(lab)
    const name = await page.locator('#adopt-name').inputValue()
    expect(name).toBe(`${lab}-pc01`)
    await page.getByRole('button', { name: `Adopt into ${lab}` }).click()
    const known = page.locator(`tr[data-terminal="${name}"]`)
    await known.waitFor()
    await expect.poll(() => row.count()).toBe(0)
    expect(await known.innerText()).toContain(MAC)
    expect((await admin.get(`/api/terminals/${name}`)).body).toMatchObject({ lab, mac: MAC })

    // The seat runs (QEMU, TCG); the terminal asks again and is told where its seat is.
    let answer: Response | undefined
    await expect.poll(async () => (answer = await ask()).status, { timeout: 90_000, interval: 1000 }).toBe(200)
    const seat = (await answer!.json()) as { seat: string; port: number; terminal: string }
    expect(seat).toMatchObject({ seat: `${lab}-1`, port, terminal: name })

    // Its client runs: the launcher says so, and the page shows the terminal on its seat, live.
    const beat = await fetch(`${server.url}/api/terminal/heartbeat?mac=${MAC}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"state":"connected"}' })
    expect(beat.status).toBe(204)
    await expect.poll(() => known.locator('.seat-cell').innerText(), { timeout: 15_000 }).toContain(`${lab}-1`)
    expect(await known.locator('.conn-cell').innerText()).toMatch(/^● connected/)
    // Another terminal asks, for the screenshot to show one pending.
    expect((await ask(OTHER_MAC)).status).toBe(403)
    await page.locator(`tr[data-pending="${OTHER_MAC.replaceAll(':', '-')}"]`).waitFor({ timeout: 15_000 })
    await screenshot(page, 'terminals-en')
  })

  it('previews the command line a terminal would get from a client class being written, filled in by the server', async () => {
    await page.getByRole('link', { name: 'Client classes', exact: true }).first().click()
    await page.getByRole('button', { name: 'New client class' }).click()
    await page.locator('#new-client-program').fill('xfreerdp')
    await page.locator('#new-client-args').fill('/v:%HOST%:%PORT%\n/t:%TERMINAL% on %SEAT%\n/f')
    const argv = page.locator('.argv li')
    await expect.poll(() => argv.allInnerTexts()).toEqual(['xfreerdp', `/v:127.0.0.1:${port}`, `/t:${lab}-pc01 on ${lab}-1`, '/f'])
    expect(await page.locator('pre.command').innerText()).toBe(`'xfreerdp' '/v:127.0.0.1:${port}' '/t:${lab}-pc01 on ${lab}-1' '/f'`)
    // A bad program name: the server's reason shows in the preview, and nothing was saved.
    await page.locator('#new-client-program').fill('rm -rf')
    await expect.poll(() => page.locator('.preview .form-error').innerText()).toMatch(/program name/)
    await page.locator('#new-client-name').fill('preview-only')
    await page.getByRole('button', { name: 'Create client class' }).click()
    await expect.poll(() => page.locator('#new-client-program-error').innerText()).toMatch(/program name/)
    expect((await admin.get('/api/clients/preview-only')).status).toBe(404)
    await screenshot(page, 'clients-en')
  })

  it("edits a terminal (a bad address refused beside its field, nothing saved) and deletes one after a confirm", async () => {
    const spare = await create(admin, 'terminals', bodies.terminal(lab, undefined, 'spare-pc'))
    await page.goto(`${server.url}/terminals`)
    const row = page.locator('tr[data-terminal="spare-pc"]')
    await row.getByRole('button', { name: 'Edit' }).click()
    await page.locator('#edit-spare-pc-ip').fill('10.0.0.300')
    await page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => page.locator('#edit-spare-pc-ip-error').innerText()).toMatch(/IPv4/)
    expect((await admin.get('/api/terminals/spare-pc')).body.ip).toBe(spare.ip)
    await page.locator('#edit-spare-pc-ip').fill('10.0.0.30')
    await page.locator('#edit-spare-pc-description').fill('by the window')
    await page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => row.innerText()).toContain('by the window')
    expect((await admin.get('/api/terminals/spare-pc')).body).toMatchObject({ ip: '10.0.0.30', description: 'by the window' })

    await row.getByRole('button', { name: 'Delete' }).click()
    await row.getByRole('button', { name: 'Delete' }).click()
    await row.waitFor({ state: 'detached' })
    expect((await admin.get('/api/terminals/spare-pc')).status).toBe(404)
  })

  it('shows the terminals page in Spanish', async () => {
    await page.evaluate(() => localStorage.setItem('labvirt.language', 'es'))
    await page.goto(`${server.url}/terminals`)
    await page.locator('h1', { hasText: 'Terminales' }).waitFor()
    await page.locator(`tr[data-terminal="${lab}-pc01"] .conn-cell`, { hasText: 'conectado' }).waitFor({ timeout: 15_000 })
    expect(await page.locator('#known-title').innerText()).toContain('Terminales conocidos')
    await page.getByRole('button', { name: 'Adoptar', exact: true }).click()
    await page.locator('#adopt-name').waitFor()
    await screenshot(page, 'terminals-es')
    // A tablet: nothing wider than the window.
    await page.setViewportSize({ width: 768, height: 1024 })
    await screenshot(page, 'terminals-es-768')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768)
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.evaluate(() => localStorage.setItem('labvirt.language', 'en'))
  })
})
