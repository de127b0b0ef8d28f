import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { screenshot, signIn, startBrowser, type Page, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'
import { cmdline } from '../integration/vms/vm-helpers'

// The profile editor's hardware fields in Chromium, down to the QEMU command line of a real seat
// (TCG), and a profile stored before the extra-arguments allowlist, shown as broken.
let server: TestServer
let browser: TestBrowser
let admin: ApiClient
let image: string
let old: string

/** Writes extra arguments into a stored profile as an older LabVirt did, while the server is down (it caches what it owns). */
async function storeExtraArgs(profile: string, extraArgs: string[]) {
  await server.stop()
  const file = join(server.dataDir, 'store', 'profiles', profile)
  await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), extraArgs }))
  await server.restart()
}

beforeAll(async () => {
  server = await startServer({}, { vms: true })
  admin = await adminClient(server.url)
  image = (await create(admin, 'images', bodies.image())).id
  old = (await create(admin, 'profiles', { ...bodies.profile(image), extraArgs: ['-usb'] })).id
  await storeExtraArgs(old, ['-usb', '-option-rom', 'LICENSE'])
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

async function profilesPage(): Promise<Page> {
  await browser.context.clearCookies()
  const page = await browser.page()
  await page.goto(`${server.url}/profiles`)
  await signIn(page)
  return page
}

describe('the profile editor: hardware', () => {
  it('sets q35, a USB tablet, a local-time clock and a virtio display through the form; a seat runs QEMU with them', async () => {
    const page = await profilesPage()
    const name = uniqueName('hw')
    await page.getByRole('button', { name: 'New profile' }).click()
    await page.locator('#profile-name').fill(name)
    await page.locator('#profile-memory').fill('128')
    await page.getByRole('button', { name: 'Add a disk' }).click()
    // SMBIOS is collapsed on a profile without strings.
    expect(await page.locator('#profile-smbios-serial').isVisible()).toBe(false)
    await page.getByLabel('Machine type').selectOption('q35')
    await page.getByLabel('Display adapter').selectOption('virtio')
    await page.getByLabel('USB tablet').check()
    await page.getByLabel('Clock in local time').check()
    await page.locator('.smbios summary').click()
    await page.getByLabel('Serial number').fill('LAB 0001')
    await page.getByLabel('CPU model').fill('max,+vmx')
    await page.getByRole('button', { name: 'Create profile' }).click()
    // A bad field: its message beside it, nothing saved.
    await expect.poll(() => page.locator('#profile-cpu-model-error').innerText()).toContain('A CPU model name')
    expect((await admin.get(`/api/profiles/${name}`)).status).toBe(404)
    await screenshot(page, 'profile-hardware-en')
    await page.getByLabel('CPU model').fill('')
    await page.getByRole('button', { name: 'Create profile' }).click()
    await page.locator(`tr[data-profile="${name}"]`).waitFor()
    expect((await admin.get(`/api/profiles/${name}`)).body).toMatchObject({
      machine: 'q35', display: 'virtio', usbTablet: true, rtcLocalTime: true, cpuModel: null, sound: 'none', firmware: 'bios',
      smbios: { serial: 'LAB 0001' }, problems: [],
    })

    // Editing it again: the saved values, SMBIOS open since it has a string.
    await page.getByRole('button', { name: `Edit ${name}` }).click()
    expect(await page.getByLabel('Machine type').inputValue()).toBe('q35')
    expect(await page.getByLabel('USB tablet').isChecked()).toBe(true)
    expect(await page.getByLabel('Serial number').inputValue()).toBe('LAB 0001')
    await page.getByRole('button', { name: 'Cancel' }).click()

    const lab = await create(admin, 'labs', { ...bodies.lab(name), size: 1, max: 1 })
    let argv: string[] | null = null
    await expect.poll(async () => {
      const seat = ((await admin.get('/api/vms')).body as { id: string; state: string; pid?: number }[]).find((v) => v.id === `${lab.id}-1`)
      argv = seat?.state === 'running' && seat.pid ? cmdline(seat.pid) : null
      return argv !== null
    }, { timeout: 60_000 }).toBe(true)
    const line = argv!.join(' ')
    expect(line).toContain('-machine q35')
    expect(line).toContain('-device usb-tablet')
    expect(line).toContain('-rtc base=localtime')
    expect(line).toContain('-vga virtio')
    expect(line).toContain('-smbios type=1,serial=LAB 0001')
    await page.close()
  })

  it('warns on the row and in the editor about a stored profile whose extra arguments are refused', async () => {
    const page = await profilesPage()
    const row = page.locator(`tr[data-profile-problem="${old}"]`)
    await expect.poll(() => row.innerText()).toContain('Its seats do not start: extra arguments no longer allowed (-option-rom LICENSE)')
    await page.getByRole('button', { name: `Edit ${old}` }).click()
    expect(await page.locator('.profile-problems').innerText()).toContain('The seats of this profile do not start')
    expect(await page.locator('#profile-extra-error').innerText()).toMatch(/-option-rom: Extra arguments allow only/)
    expect(await page.locator('#profile-extra-error').innerText()).toMatch(/LICENSE: Extra arguments allow only/)

    // The fix: the refused arguments removed; the warning goes.
    await page.locator('#profile-extra').fill('-usb')
    await page.getByRole('button', { name: 'Save profile' }).click()
    await expect.poll(() => row.count()).toBe(0)
    expect((await admin.get(`/api/profiles/${old}`)).body).toMatchObject({ extraArgs: ['-usb'], problems: [] })
    await page.close()
  })

  it('shows the hardware section and the warning in Spanish', async () => {
    const broken = (await create(admin, 'profiles', bodies.profile(image))).id
    await storeExtraArgs(broken, ['-set', 'drive.drive-ide0.snapshot=off'])
    const page = await profilesPage()
    // The list comes again in the new language: the problems are the server's messages.
    const reloaded = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/profiles' && r.request().headers()['accept-language'] === 'es')
    await page.locator('.topbar .lang select').selectOption('es')
    await reloaded
    const row = page.locator(`tr[data-profile-problem="${broken}"]`)
    await expect.poll(() => row.innerText()).toContain('Sus puestos no arrancan')
    await page.getByRole('button', { name: `Editar ${broken}` }).click()
    await page.locator('.smbios summary').click()
    const hardware = await page.locator('fieldset.hardware').innerText()
    for (const text of ['Tipo de máquina', 'Adaptador de pantalla', 'Tableta USB', 'Reloj en hora local', 'Número de serie']) expect(hardware).toContain(text)
    expect(await page.locator('.profile-problems').innerText()).toContain('Los puestos de este perfil no arrancan')
    expect(await page.locator('#profile-extra-error').innerText()).toMatch(/^-set: Los argumentos adicionales/)
    await screenshot(page, 'profile-hardware-es')
    await page.setViewportSize({ width: 768, height: 1000 })
    // A tablet: the page, the warning's long arguments included, fits without scrolling sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768)
    await screenshot(page, 'profile-hardware-es-768')
    await page.locator('.topbar .lang select').selectOption('en')
    await page.close()
  })
})
