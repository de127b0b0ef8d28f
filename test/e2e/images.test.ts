import { randomBytes } from 'node:crypto'
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create } from '../helpers/fixtures'
import { screenshot, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// Bringing images in from the Images page in Chromium: an upload with its bar, a file copied into
// the images directory by hand imported, and a linked clone shown with what backs it.
let server: TestServer
let browser: TestBrowser
let admin: ApiClient
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('the images page', () => {
  it('uploads a disk from this computer with a progress bar; the image arrives intact', async () => {
    // A raw disk: whole sectors of random bytes (zero boot sector, so it is not taken for text).
    const bytes = randomBytes(24 * 2 ** 20)
    bytes.fill(0, 0, 512)
    const file = join(server.dataDir, 'upload-src.img')
    await writeFile(file, bytes)
    const page = await browser.signedIn(server.url, '/images')
    await page.locator('#upload-file').setInputFiles(file)
    expect(await page.locator('#upload-name').inputValue()).toBe('upload-src')
    await page.locator('#upload-name').fill('uploaded')
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.locator('tr[data-image="uploaded"]').waitFor({ timeout: 30_000 })
    expect(await page.locator('#upload-progress').evaluate((b: HTMLProgressElement) => b.value)).toBe(100)
    expect(await page.locator('tr[data-image="uploaded"]').innerText()).toContain('raw')
    expect(await page.getByRole('status').innerText()).toContain('Image uploaded uploaded')
    expect(await page.locator('#upload-file').inputValue()).toBe('')
    expect(sha(await readFile(join(server.dataDir, 'images', 'uploaded.img')))).toBe(sha(bytes))
    await screenshot(page, 'images-upload-en')
    await page.close()
  }, 60_000)

  it('imports a file copied in by hand, and shows what backs a linked clone', async () => {
    const image = await create(admin, 'images', bodies.image('base'))
    const profile = await create(admin, 'profiles', bodies.profile(image.id, 'basep'))
    const { job } = (await admin.post(`/api/profiles/${profile.id}/clone`, { name: 'linked', mode: 'linked' })).body
    await expect.poll(async () => (await admin.get(`/api/jobs/${job.id}`)).body.state, { timeout: 15_000 }).toBe('succeeded')
    const copied = randomBytes(2 * 2 ** 20)
    copied.fill(0, 0, 512)
    await writeFile(join(server.dataDir, 'images', 'Handmade.img'), copied)
    const page = await browser.signedIn(server.url, '/images')
    expect(await page.locator('tr[data-image="linked"] td.backing').innerText()).toBe('base')
    expect(await page.locator('tr[data-image="base"] td.backing').innerText()).toBe('—')
    const row = page.locator('tr[data-file="Handmade.img"]')
    expect(await row.locator('input[type=text], input:not([type])').inputValue()).toBe('handmade')
    await row.getByRole('button', { name: 'Import' }).click()
    await page.locator('tr[data-image="handmade"]').waitFor()
    await expect.poll(() => page.locator('tr[data-file="Handmade.img"]').count()).toBe(0)
    expect((await admin.get('/api/images/handmade')).body).toMatchObject({ format: 'raw', file: 'Handmade.img' })
    await page.close()
  }, 60_000)
})
