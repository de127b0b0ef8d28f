import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { screenshot, startBrowser, type Page, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// The labs, profiles and images pages in Chromium against the built server, with real QEMU seats (TCG).
let server: TestServer
let browser: TestBrowser
let admin: ApiClient
const VIEWER = { username: 'crudviewer', password: 'viewer-password-1', role: 'viewer' }

beforeAll(async () => {
  // Blank disks never answer ACPI: a powerdown quits QEMU after 2 s, not 60.
  server = await startServer({ LABVIRT_POWERDOWN_TIMEOUT: '2' }, { vms: true })
  admin = await adminClient(server.url)
  expect((await admin.post('/api/users', VIEWER)).status).toBe(201)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

/** A new tab on `path`, signed in afresh as `user` (admin by default). */
const signedIn = (path = '/', user?: { username: string; password: string }) => browser.signedIn(server.url, path, user)

/** Follows a nav link: the app changes page without reloading. */
const nav = (page: Page, name: string) => page.locator('.topbar nav').getByRole('link', { name }).click()
const slotText = (page: Page, slot: string) => page.locator(`.ide-slots tr[data-slot="${slot}"] td`).innerText()

describe('labs, profiles and images pages', () => {
  const image = uniqueName('img')
  const profile = uniqueName('prof')
  const lab = uniqueName('lab')

  it('creates an image, a profile and a lab through the forms; the seats appear on the dashboard and run, without a reload', async () => {
    const page = await signedIn('/images')
    await page.getByRole('button', { name: 'New blank image' }).click()
    await page.locator('#image-name').fill(image)
    await page.locator('#image-size').fill('16')
    await page.getByRole('button', { name: 'Create image' }).click()
    await expect.poll(() => page.locator(`tr[data-image="${image}"]`).innerText()).toContain('qcow2')
    expect(await page.locator(`tr[data-image="${image}"]`).innerText()).toMatch(/16 MiB/)
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1))

    await nav(page, 'Profiles')
    await page.getByRole('button', { name: 'New profile' }).click()
    await page.locator('#profile-name').fill(profile)
    await page.locator('#profile-memory').fill('128')
    await page.getByRole('button', { name: 'Add a disk' }).click()
    await page.getByRole('button', { name: 'Add a disk' }).click()
    await page.locator('#disk-1-media').selectOption('cdrom')
    // The slots as QEMU places them: the CD-ROM at secondary master, the disk at primary master.
    expect(await slotText(page, 'Primary master')).toContain(`disk 1: ${image} (hard disk)`)
    expect(await slotText(page, 'Secondary master')).toContain(`disk 2: ${image} (CD-ROM)`)
    expect(await slotText(page, 'Primary slave')).toBe('empty')
    await screenshot(page, 'profile-editor-en')
    await page.locator('#disk-1-media').selectOption('disk')
    expect(await slotText(page, 'Primary slave')).toContain('disk 2')
    await page.getByRole('button', { name: 'Remove disk 2' }).click()
    await page.getByRole('button', { name: 'Create profile' }).click()
    await page.locator(`tr[data-profile="${profile}"]`).waitFor()
    expect((await admin.get(`/api/profiles/${profile}`)).body.disks).toEqual([{ image, bus: 'ide', media: 'disk' }])

    await nav(page, 'Labs')
    await page.getByRole('button', { name: 'New lab' }).click()
    await page.locator('#lab-name').fill(lab)
    await page.locator('#lab-size').fill('2')
    await page.locator('#lab-max').fill('3')
    await page.locator('#lab-add-profile').selectOption(profile)
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    // The seats previewed before saving, by the server's rules.
    await expect.poll(() => page.locator('.seat-preview tbody tr').count()).toBe(3)
    const preview = await page.locator('.seat-preview tbody tr').allInnerTexts()
    expect(preview[2]).toContain(`${lab}-3`)
    expect(preview[2]).toContain('reserved only')
    await page.getByRole('button', { name: 'Create lab' }).click()
    await page.locator(`tr[data-lab="${lab}"]`).waitFor()
    const saved = (await admin.get(`/api/labs/${lab}`)).body
    expect(preview[0]).toContain(`${saved.macBase.slice(0, -2)}01`)

    await nav(page, 'Dashboard')
    for (const id of [`${lab}-1`, `${lab}-2`]) {
      await expect.poll(() => page.locator(`.seat[data-vm="${id}"]`).getAttribute('data-state'), { timeout: 120_000 }).toBe('running')
    }
    await nav(page, 'Labs')
    await expect.poll(() => page.locator(`tr[data-lab="${lab}"] [data-col="running"]`).innerText(), { timeout: 10_000 }).toBe('2 / 2')
    // Never reloaded: the marker set on the first page is still there.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1)
    await screenshot(page, 'labs-en')
    await page.close()
  })

  it('shows the server\'s field errors beside the fields and saves nothing', async () => {
    const page = await signedIn('/labs')
    await page.getByRole('button', { name: 'New lab' }).click()
    await page.locator('#lab-name').fill('Bad Name')
    await page.locator('#lab-size').fill('5')
    await page.locator('#lab-max').fill('2')
    await page.locator('#lab-ip').fill('10.0.0.300')
    await page.getByRole('button', { name: 'Create lab' }).click()
    await expect.poll(() => page.locator('#lab-name-error').innerText()).toMatch(/lowercase/)
    expect(await page.locator('#lab-ip-error').innerText()).toMatch(/IPv4/)
    expect(await page.locator('#lab-name').getAttribute('aria-describedby')).toBe('lab-name-error')
    expect((await admin.get('/api/labs')).body.map((l: any) => l.id)).toEqual([lab])

    await nav(page, 'Profiles')
    await page.getByRole('button', { name: 'New profile' }).click()
    await page.locator('#profile-name').fill(uniqueName('p'))
    await page.locator('#profile-memory').fill('1')
    await page.locator('#profile-extra').fill('-drive\n-usb')
    await page.getByRole('button', { name: 'Create profile' }).click()
    await expect.poll(() => page.locator('#profile-memory-error').innerText()).not.toBe('')
    expect(await page.locator('#profile-disks-error').innerText()).not.toBe('')
    expect(await page.locator('#profile-extra-error').innerText()).toMatch(/-drive: Extra arguments allow only/)
    expect((await admin.get('/api/profiles')).body.map((p: any) => p.id)).toEqual([profile])
    await page.close()
  })

  it('refuses to delete an image a profile uses or a lab a terminal uses, naming them; a stale lab save says so and shows the saved lab', async () => {
    const page = await signedIn('/images')
    page.once('dialog', (d) => void d.accept())
    await page.getByRole('button', { name: `Delete ${image}` }).click()
    await expect.poll(() => page.locator('.form-error').innerText()).toContain(profile)
    expect((await admin.get(`/api/images/${image}`)).status).toBe(200)

    await nav(page, 'Labs')
    const terminal = await create(admin, 'terminals', bodies.terminal(lab))
    page.once('dialog', (d) => void d.accept())
    await page.getByRole('button', { name: `Delete ${lab}` }).click()
    await expect.poll(() => page.locator('.form-error').innerText()).toContain(terminal.id)
    expect((await admin.delete(`/api/terminals/${terminal.id}`)).status).toBe(204)

    await page.getByRole('button', { name: `Edit ${lab}` }).click()
    const current = (await admin.get(`/api/labs/${lab}`)).body
    expect((await admin.put(`/api/labs/${lab}`, { ...current, description: 'changed elsewhere' })).status).toBe(200)
    await page.locator('#lab-description').fill('my change')
    await page.getByRole('button', { name: 'Save lab' }).click()
    await expect.poll(() => page.locator('.notice').innerText()).toMatch(/changed meanwhile/)
    expect(await page.locator('#lab-description').inputValue()).toBe('changed elsewhere')
    // Redone on the saved lab, the change goes through.
    await page.locator('#lab-description').fill('my change')
    await page.getByRole('button', { name: 'Save lab' }).click()
    await page.locator('.ok-note').waitFor()
    expect((await admin.get(`/api/labs/${lab}`)).body.description).toBe('my change')
    await page.close()
  })

  it('moves a lab\'s profiles with the keyboard, the focus following the moved profile', async () => {
    const second = (await create(admin, 'profiles', bodies.profile(image))).id
    const page = await signedIn('/labs')
    await page.getByRole('button', { name: `Edit ${lab}` }).click()
    await page.locator('#lab-add-profile').selectOption(second)
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    const order = () => page.locator('.lab-form .ordered li .grow').allInnerTexts()
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))
    await page.getByRole('button', { name: `Move ${profile} down` }).focus()
    await page.keyboard.press('Enter')
    expect(await order()).toEqual([second, profile])
    expect(await focused()).toBe(`Move ${profile} up`)
    await page.keyboard.press('Enter')
    expect(await order()).toEqual([profile, second])
    expect(await focused()).toBe(`Move ${profile} down`)
    // The list's reloads held back, as on a busy server: editing the lab again at once must start
    // from the revision just saved, not run into a stale save's 409.
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    await page.route(/\/api\/labs$/, async (route) => {
      await held
      await route.continue()
    })
    await page.locator('#lab-ip').fill('10.77.0.10')
    await page.getByRole('button', { name: 'Save lab' }).click()
    await page.locator('.ok-note').waitFor()
    expect((await admin.get(`/api/labs/${lab}`)).body).toMatchObject({ profiles: [profile, second], ipBase: '10.77.0.10' })
    // A field emptied in the form is gone from the lab, not kept from before.
    await page.getByRole('button', { name: `Edit ${lab}` }).click()
    expect(await page.locator('#lab-ip').inputValue()).toBe('10.77.0.10')
    await page.locator('#lab-ip').fill('')
    await page.getByRole('button', { name: 'Save lab' }).click()
    await page.locator('.ok-note').waitFor()
    expect((await admin.get(`/api/labs/${lab}`)).body.ipBase).toBeUndefined()
    release()
    await page.close()
  })

  it('starts maintenance after a 409 listing the running seats, by powering them down, and stops it', async () => {
    const page = await signedIn('/profiles')
    const row = page.locator(`tr[data-profile="${profile}"]`)
    await row.getByRole('button', { name: 'Exclusive maintenance' }).click()
    const blocked = page.locator('.maintenance-blocked')
    await expect.poll(() => blocked.locator('li').allInnerTexts()).toEqual([`${lab}-1`, `${lab}-2`])
    await blocked.getByRole('button', { name: 'Power them down and start exclusive maintenance' }).click()
    await expect.poll(() => row.innerText(), { timeout: 90_000 }).toContain('in maintenance')
    const vms = (await admin.get('/api/vms')).body as { id: string; kind: string; held: boolean }[]
    expect(vms.find((v) => v.id === `${profile}-maint`)?.kind).toBe('maintenance')
    await row.getByRole('button', { name: 'Stop maintenance' }).click()
    await expect.poll(() => row.innerText(), { timeout: 90_000 }).not.toContain('in maintenance')
    await page.close()
  })

  it('shows the profile editor and the labs page in Spanish', async () => {
    const page = await signedIn('/profiles')
    await page.locator('.topbar .lang select').selectOption('es')
    await page.getByRole('button', { name: `Editar ${profile}` }).click()
    await page.getByRole('button', { name: 'Añadir un disco' }).click()
    await page.locator('#disk-1-media').selectOption('cdrom')
    expect(await slotText(page, 'Secondary master')).toContain('CD-ROM')
    expect(await page.locator('.ide-slots').innerText()).toContain('Maestro secundario')
    await screenshot(page, 'profile-editor-es')
    await nav(page, 'Laboratorios')
    await page.getByRole('button', { name: `Editar ${lab}` }).click()
    await expect.poll(() => page.locator('.seat-preview tbody tr').count()).toBe(3)
    expect(await page.locator('.labs-page').innerText()).toContain('Los puestos que tendrá')
    await screenshot(page, 'labs-es')
    await page.locator('.topbar .lang select').selectOption('en')
    await page.close()
  })

  it('shows a viewer these pages without any write control', async () => {
    const other = await create(admin, 'images', bodies.image())
    const page = await signedIn('/images', VIEWER)
    // Disclosure buttons (aria-expanded: a profile's versions) only show more; nothing else.
    const check = () => page.locator('main button:not([aria-expanded]), main input, main select, main textarea').count()
    for (const [link, row] of [['Images', `tr[data-image="${other.id}"]`], ['Profiles', `tr[data-profile="${profile}"]`], ['Labs', `tr[data-lab="${lab}"]`]] as const) {
      await nav(page, link)
      await page.locator(row).waitFor()
      expect(await check()).toBe(0)
    }
    // A profile's versions, opened: no maintenance control, no rollback.
    await nav(page, 'Profiles')
    await page.locator(`tr[data-profile="${profile}"]`).getByRole('button', { name: `Versions of ${profile}` }).click()
    await page.locator(`[data-versions="${profile}"] tr[data-version="1"]`).waitFor()
    expect(await check()).toBe(0)
    await page.close()
  })
})
