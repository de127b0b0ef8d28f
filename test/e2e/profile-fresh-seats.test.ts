import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { signIn, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// The profile editor's fresh-seats fields in Chromium: off with the default grace on a profile that
// never had them, a grace out of range refused beside its field, then saved and shown again.
let server: TestServer
let browser: TestBrowser
let admin: ApiClient
let profile: string

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  const image = (await create(admin, 'images', bodies.image())).id
  profile = (await create(admin, 'profiles', { ...bodies.profile(image), name: uniqueName('fr') })).id
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('the profile editor: fresh seats', () => {
  it('turns on resetAfterSession with a grace; a grace out of range is refused beside its field', async () => {
    const page = await browser.page()
    await page.goto(`${server.url}/profiles`)
    await signIn(page)
    await page.getByRole('button', { name: `Edit ${profile}` }).click()
    const reset = page.getByLabel('Fresh seats')
    const grace = page.getByLabel('Wait for a reconnect (seconds)')
    expect(await reset.isChecked()).toBe(false)
    expect(await grace.inputValue()).toBe('120')

    await reset.check()
    await grace.fill('100000')
    await page.getByRole('button', { name: 'Save profile' }).click()
    await expect.poll(() => page.locator('#profile-grace-error').innerText()).not.toBe('')
    expect((await admin.get(`/api/profiles/${profile}`)).body).toMatchObject({ resetAfterSession: false, sessionGraceSeconds: 120 })

    await grace.fill('30')
    await page.getByRole('button', { name: 'Save profile' }).click()
    await expect.poll(async () => (await admin.get(`/api/profiles/${profile}`)).body).toMatchObject({ resetAfterSession: true, sessionGraceSeconds: 30 })
    await page.getByRole('button', { name: `Edit ${profile}` }).click()
    expect(await page.getByLabel('Fresh seats').isChecked()).toBe(true)
    expect(await page.getByLabel('Wait for a reconnect (seconds)').inputValue()).toBe('30')
  })
})
