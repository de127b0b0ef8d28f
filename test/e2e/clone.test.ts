import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiClient, adminClient } from '../helpers/client'
import { bodies, create, uniqueName } from '../helpers/fixtures'
import { screenshot, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// A profile cloned from the Profiles page in Chromium: the job's bar moves, live, to 100 %.
let server: TestServer
let browser: TestBrowser
let admin: ApiClient

beforeAll(async () => {
  server = await startServer()
  admin = await adminClient(server.url)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('cloning a profile in the console', () => {
  it('the source is preselected, and the new job\'s bar rises to 100 % with the state "done"', async () => {
    // 512 MiB of data: a copy of a second or two, long enough to see the bar between its ends.
    const image = await create(admin, 'images', { ...bodies.image(), sizeMiB: 1024 })
    await execa('qemu-io', ['-c', 'write -P 0xab 0 512M', join(server.dataDir, 'images', `${image.id}.qcow2`)])
    const profile = await create(admin, 'profiles', bodies.profile(image.id))
    const page = await browser.signedIn(server.url, '/profiles')
    await expect.poll(() => page.locator('#clone-source').inputValue()).toBe(profile.id)
    const name = uniqueName('copy')
    await page.locator('#clone-name').fill(name)
    // Every value the bar shows, from the moment its row appears.
    await page.evaluate((target) => {
      const seen: number[] = ((window as any).barValues = [])
      new MutationObserver(() => {
        const bar = document.querySelector<HTMLProgressElement>(`tr[data-target="${target}"] progress`)
        if (bar && seen[seen.length - 1] !== bar.value) seen.push(bar.value)
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['value'] })
    }, name)
    await page.getByRole('button', { name: 'Clone', exact: true }).click()
    const row = page.locator(`tr[data-target="${name}"]`)
    await expect.poll(() => row.locator('td[data-state]').innerText(), { timeout: 60_000 }).toBe('done')
    expect(await row.locator('progress').evaluate((b: HTMLProgressElement) => b.value)).toBe(100)
    expect(await row.locator('td').first().innerText()).toBe('full clone')
    const values: number[] = await page.evaluate(() => (window as any).barValues)
    expect(values.length, String(values)).toBeGreaterThanOrEqual(3)
    expect(values.some((v) => v > 0 && v < 100), String(values)).toBe(true)
    expect([...values].sort((a, b) => a - b)).toEqual(values)
    expect((await admin.get(`/api/profiles/${name}`)).body.disks[0].image).toBe(name)
    await screenshot(page, 'profile-clone-en')
    await page.close()
  }, 90_000)
})
