import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create } from '../helpers/fixtures'
import { screenshot, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// The users, my-account and events pages in Chromium against the built server (no VMs needed).

let server: TestServer
let admin: ApiClient
let browser: TestBrowser

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

/** A new tab on `path`, signed in afresh as `user` (admin by default). */
const signedIn = (path = '/', user?: { username: string; password: string }) => browser.signedIn(server.url, path, user)

describe('the users page', () => {
  it('creates a user who can then sign in, after showing a short password refused beside its field', async () => {
    const page = await signedIn('/users')
    await page.getByRole('button', { name: 'New user' }).click()
    await page.locator('#new-user-username').fill('ana')
    await page.locator('#new-user-password').fill('short')
    await page.getByRole('button', { name: 'Create user' }).click()
    await expect.poll(() => page.locator('#new-user-password-error').innerText()).toMatch(/8/)
    expect((await admin.get('/api/users/ana')).status).toBe(404)
    await page.locator('#new-user-password').fill('ana-password-1')
    await page.getByRole('button', { name: 'Create user' }).click()
    await page.locator('tr[data-user="ana"]').waitFor()
    expect(await page.locator('tr[data-user="ana"] select').inputValue()).toBe('viewer')
    await screenshot(page, 'users-en')
    await page.close()

    // Ana signs in: a viewer, with no users page and no write control on the terminals page.
    const ana = await signedIn('/', { username: 'ana', password: 'ana-password-1' })
    await ana.locator('.topbar nav').getByRole('link', { name: 'Events' }).waitFor()
    expect(await ana.locator('.topbar nav').getByRole('link', { name: 'Users' }).count()).toBe(0)
    await ana.goto(`${server.url}/terminals`)
    await ana.locator('#known-title').waitFor()
    expect(await ana.getByRole('button', { name: 'New terminal' }).count()).toBe(0)
    await ana.close()
  })

  it("shows the server's refusal to demote or delete the last administrator, and deletes a user after a confirm", async () => {
    await create(admin, 'users', bodies.user('bruno'))
    const page = await signedIn('/users')
    await page.locator('tr[data-user="admin"] select').selectOption('viewer')
    await expect.poll(() => page.locator('.form-error').innerText()).toContain('"admin" is the last administrator')
    expect((await admin.get('/api/users/admin')).body.role).toBe('admin')
    expect(await page.locator('tr[data-user="admin"] select').inputValue()).toBe('admin')

    const bruno = page.locator('tr[data-user="bruno"]')
    await bruno.getByRole('button', { name: 'Delete' }).click()
    await bruno.getByRole('button', { name: 'Delete' }).click()
    await bruno.waitFor({ state: 'detached' })
    expect((await admin.get('/api/users/bruno')).status).toBe(404)
    await page.close()
  })

  it('lets a viewer change their own password from my account', async () => {
    const page = await signedIn('/account', { username: 'ana', password: 'ana-password-1' })
    await page.locator('#current-password').fill('not-my-password')
    await page.locator('#new-password').fill('ana-password-2')
    await page.locator('#repeat-password').fill('ana-password-2')
    await page.getByRole('button', { name: 'Change password' }).click()
    await expect.poll(() => page.locator('#current-password-error').innerText()).toBe('Wrong password')
    await page.locator('#current-password').fill('ana-password-1')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.locator('.ok-note').waitFor()
    await page.close()
    const again = await signedIn('/', { username: 'ana', password: 'ana-password-2' })
    await again.close()
  })
})

describe('the events page', () => {
  it('filters by kind, and holds new events behind a button until asked', async () => {
    for (const name of ['ev-one', 'ev-two']) await create(admin, 'clients', bodies.client(name))
    const page = await signedIn('/events')
    await page.locator('#event-kind').selectOption('client')
    await expect.poll(async () => new Set(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind'))))).toEqual(new Set(['client']))
    expect(await page.locator('tbody tr').first().innerText()).toContain('ev-two')

    // A new client class appears only behind the button; the rows shown stay as they were.
    await create(admin, 'clients', bodies.client('ev-three'))
    await create(admin, 'images', bodies.image('ev-image'))
    const button = page.getByRole('button', { name: 'Show new events (1)' })
    await button.waitFor({ timeout: 15_000 })
    expect(await page.locator('tbody tr').first().innerText()).toContain('ev-two')
    await button.click()
    await expect.poll(() => page.locator('tbody tr').first().innerText()).toContain('ev-three')
    expect(await page.getByText('ev-image').count()).toBe(0)
    await screenshot(page, 'events-en')
    await page.close()
  })

  it("says what a job did in words, not in the server's action names", async () => {
    const image = await create(admin, 'images', bodies.image('ev-src'))
    const profile = await create(admin, 'profiles', bodies.profile(image.id, 'ev-src'))
    const { job } = (await admin.post(`/api/profiles/${profile.id}/clone`, { name: 'ev-copy', mode: 'linked' })).body
    await expect.poll(async () => (await admin.get(`/api/jobs/${job.id}`)).body.state, { timeout: 15_000 }).toBe('succeeded')
    const page = await signedIn('/events')
    await page.locator('#event-kind').selectOption('job')
    const what = () => page.locator('tbody tr td:nth-child(3)').allInnerTexts()
    // The start says what the job does, in the reader's words, beside the action.
    await expect.poll(what).toEqual(['finished', 'started: Linked clone into the profile ev-copy'])
    await page.locator('#event-kind').selectOption('profile')
    await expect.poll(async () => (await what())[0]).toBe('cloned')
    await page.close()
  })
})
