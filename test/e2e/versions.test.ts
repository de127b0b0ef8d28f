import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { screenshot, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'
import { openConsole } from '../helpers/rfb'
import { makeLab, seatsOf, type Vm, waitFor } from '../integration/vms/vm-helpers'

// Issue 11 in the browser: overlay maintenance started, published with a note from the profiles
// page, and the seats seen moving to the new version on the dashboard; a canary published to one
// seat, then promoted to every seat.
let server: TestServer
let browser: TestBrowser
let admin: ApiClient

beforeAll(async () => {
  // Blank disks never answer ACPI: a powerdown quits QEMU after 1 s, not 60.
  server = await startServer({ LABVIRT_POWERDOWN_TIMEOUT: '1', LABVIRT_RECONCILE_INTERVAL: '1' }, { vms: true })
  admin = await adminClient(server.url)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

const seats = async (lab: string) => seatsOf((await admin.get<Vm[]>('/api/vms')).body, lab)

describe('profile versions in the console', () => {
  it('starts overlay maintenance, publishes with a note, and shows the seats move to v2', async () => {
    const { lab, profile } = await makeLab(admin, 2, 'ev')
    await waitFor('2 seats running', 30_000, async () => (await seats(lab.id)).filter((s) => s.state === 'running').length === 2)
    const page = await browser.signedIn(server.url, '/profiles')
    const row = page.locator(`tr[data-profile="${profile.id}"]`)
    await row.getByRole('button', { name: `Versions of ${profile.id}` }).click()
    const panel = page.locator(`[data-versions="${profile.id}"]`)
    await panel.getByRole('button', { name: 'Start maintenance (seats keep running)' }).click()
    await expect.poll(() => panel.innerText(), { timeout: 30_000 }).toContain('Maintenance on v1 by admin')
    await waitFor(`${profile.id}-maint running`, 30_000, async () => (await admin.get<Vm[]>('/api/vms')).body.find((v) => v.id === `${profile.id}-maint`)?.state === 'running')
    expect((await seats(lab.id)).every((s) => s.state === 'running'), 'the seats kept running').toBe(true)
    // Overlay maintenance ends by publish or discard (a stop is a 409): the row leads to the panel.
    const finish = row.getByRole('button', { name: `Publish or discard the maintenance of ${profile.id}` })
    await finish.waitFor()
    expect(await row.getByRole('button', { name: 'Stop maintenance' }).count()).toBe(0)
    await row.getByRole('button', { name: `Versions of ${profile.id}` }).click()
    await expect.poll(() => panel.count()).toBe(0)
    await finish.click()
    await expect.poll(() => panel.innerText()).toContain('Maintenance on v1 by admin')

    // A terminal on seat 1 (an admin console counts as one): it stays on v1 until it leaves.
    const held = await openConsole(server.url, `${lab.id}-1`, { cookie: admin.cookie })
    if (held.status !== 101) throw new Error(`console: ${held.status}`)
    await waitFor(`${lab.id}-1 connected`, 10_000, async () => ((await seats(lab.id))[0] as { connected?: boolean }).connected)

    await panel.getByLabel('What changed').fill('browser installed')
    await panel.getByRole('button', { name: 'Publish' }).click()
    await expect.poll(() => panel.locator('tr[data-version="2"]').innerText(), { timeout: 60_000 }).toContain('browser installed')
    expect(await panel.locator('tr[data-version="2"]').innerText()).toContain('current')
    // The live store shows who runs which version.
    await expect.poll(() => panel.locator('tr[data-version="2"]').innerText(), { timeout: 60_000 }).toContain(`${lab.id}-2`)
    expect(await panel.locator('tr[data-version="1"]').innerText()).toContain(`${lab.id}-1`)
    await screenshot(page, 'profile-versions-en')
    // The dashboard marks the seat that is behind.
    const dash = await browser.signedIn(server.url, '/')
    await expect.poll(() => dash.locator(`[data-vm="${lab.id}-1"] [data-behind]`).innerText(), { timeout: 30_000 }).toContain('v2 is current')
    expect(await dash.locator(`[data-vm="${lab.id}-2"] [data-behind]`).count()).toBe(0)
    await screenshot(dash, 'seat-behind-en')
    held.ws!.close()
    await expect.poll(() => dash.locator(`[data-vm="${lab.id}-1"] [data-behind]`).count(), { timeout: 60_000 }).toBe(0)
    await dash.close()
    await expect.poll(() => panel.locator('tr[data-version="2"]').innerText(), { timeout: 60_000 }).toContain(`${lab.id}-1, ${lab.id}-2`)
    expect(await row.innerText()).toContain('v2')

    await panel.getByRole('button', { name: 'Roll back' }).click()
    await panel.getByRole('button', { name: 'Roll back' }).click()
    await expect.poll(() => panel.locator('tr[data-version="1"]').innerText(), { timeout: 60_000 }).toContain('current')
    await expect.poll(() => panel.locator('tr[data-version="1"]').innerText(), { timeout: 60_000 }).toContain(`${lab.id}-1, ${lab.id}-2`)
    await page.close()
  })

  it('publishes to one seat (canary), shows the canary, and promotes it to every seat', async () => {
    const { lab, profile } = await makeLab(admin, 2, 'ec')
    await waitFor('2 seats running', 30_000, async () => (await seats(lab.id)).filter((s) => s.state === 'running').length === 2)
    const page = await browser.signedIn(server.url, '/profiles')
    await page.locator(`tr[data-profile="${profile.id}"]`).getByRole('button', { name: `Versions of ${profile.id}` }).click()
    const panel = page.locator(`[data-versions="${profile.id}"]`)
    await panel.getByRole('button', { name: 'Start maintenance (seats keep running)' }).click()
    await expect.poll(() => panel.innerText(), { timeout: 30_000 }).toContain('Maintenance on v1 by admin')
    await waitFor(`${profile.id}-maint running`, 30_000, async () => (await admin.get<Vm[]>('/api/vms')).body.find((v) => v.id === `${profile.id}-maint`)?.state === 'running')

    await panel.getByLabel('What changed').fill('try on one seat')
    await panel.getByRole('combobox', { name: /^To/ }).selectOption({ label: `only ${lab.id}-2 (canary)` })
    await panel.getByRole('button', { name: 'Publish' }).click()
    const canary = panel.locator('.canary')
    await expect.poll(() => canary.innerText(), { timeout: 60_000 }).toContain(`Canary: v2 runs on ${lab.id}-2 only`)
    // v1 stays current for the others; only the canary moves.
    expect(await panel.locator('tr[data-version="1"]').innerText()).toContain('current')
    await expect.poll(() => panel.locator('tr[data-version="2"]').innerText(), { timeout: 60_000 }).toContain(`${lab.id}-2`)
    expect(await panel.locator('tr[data-version="1"]').innerText()).toContain(`${lab.id}-1`)
    expect((await seats(lab.id)).map((s) => s.version)).toEqual([1, 2])
    await screenshot(page, 'profile-canary-en')

    await canary.getByRole('button', { name: 'Promote to every seat' }).click()
    await expect.poll(() => canary.count(), { timeout: 30_000 }).toBe(0)
    expect(await panel.locator('tr[data-version="2"]').innerText()).toContain('current')
    await expect.poll(() => panel.locator('tr[data-version="2"]').innerText(), { timeout: 60_000 }).toContain(`${lab.id}-1, ${lab.id}-2`)
    await page.close()
  })
})
