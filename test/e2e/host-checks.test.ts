import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { screenshot, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// The dashboard's host checks in Chromium: a data directory below its reserve is shown as an error
// with the server's message, and an admin can run the checks again.
let server: TestServer
let browser: TestBrowser

beforeAll(async () => {
  // More reserve than any disk has: the disk check fails, as with a full data directory.
  server = await startServer({ LABVIRT_DISK_RESERVE: '1000T' })
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('host checks on the dashboard', () => {
  it('shows the failing disk check with its message, and runs the checks again on request', async () => {
    const page = await browser.signedIn(server.url, '/')
    const disk = page.locator('.host-checks li[data-check="disk"]')
    await disk.waitFor()
    expect(await disk.getAttribute('data-level')).toBe('error')
    expect(await disk.innerText()).toMatch(/^Error The data directory has less free space than the reserve of .+ GiB: uploads are refused$/)
    const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/health/checks' && r.status() === 200)
    await page.getByRole('button', { name: 'Run the checks now' }).click()
    await asked
    await expect.poll(() => disk.getAttribute('data-level')).toBe('error')
    await screenshot(page, 'dashboard-host-checks-en')
    await page.close()
  })
})
