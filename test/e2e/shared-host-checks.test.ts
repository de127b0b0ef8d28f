import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient } from '../helpers/client'
import { screenshot, startBrowser, type TestBrowser } from '../helpers/browser'
import { startRedis, type TestRedis } from '../helpers/redis'
import { startServer, type TestServer } from '../helpers/server'

// Two hosts on one Redis store, the console of host B in Spanish: host A's failing disk check
// (its reserve is more than any disk has) is on B's dashboard, named by host and translated, and
// on B's Hosts page under host A.
let redis: TestRedis
let a: TestServer
let b: TestServer
let browser: TestBrowser

beforeAll(async () => {
  redis = await startRedis()
  a = await startServer({ LABVIRT_STORE_URL: redis.url, LABVIRT_HOST_ID: 'host-a', LABVIRT_DISK_RESERVE: '1000T', LABVIRT_SAMPLE_INTERVAL: '1' })
  b = await startServer({ LABVIRT_STORE_URL: redis.url, LABVIRT_HOST_ID: 'host-b', LABVIRT_SAMPLE_INTERVAL: '1' })
  // Scheduled tasks are off under test: host A's checks run (and are recorded) on an admin's request.
  expect((await (await adminClient(a.url)).post('/api/health/checks', {})).status).toBe(200)
  browser = await startBrowser({ locale: 'es-ES' })
}, 120_000)
afterAll(async () => {
  await browser?.close()
  await a?.dispose()
  await b?.dispose()
  await redis?.dispose()
})

describe("another host's checks in the console", () => {
  it("are on the dashboard, named by host, and on the Hosts page, in the reader's language", async () => {
    const page = await browser.signedIn(b.url, '/')
    const disk = page.locator('.host-checks li[data-host="host-a"][data-check="disk"]')
    await disk.waitFor()
    expect(await disk.getAttribute('data-level')).toBe('error')
    expect(await disk.innerText()).toMatch(/^host-a Error El directorio de datos tiene menos espacio libre que la reserva de .+ GiB/)
    await screenshot(page, 'dashboard-other-host-checks-es')

    await page.goto(`${b.url}/hosts`)
    const hostA = page.locator('.host[data-host="host-a"]')
    const checkA = hostA.locator('.checks li[data-check="disk"]')
    await checkA.waitFor()
    expect(await checkA.innerText()).toMatch(/^Error El directorio de datos/)
    expect(await hostA.locator('.checks li[data-check="store"]').innerText()).toMatch(/^Bien /)
    expect(await page.locator('.host[data-host="host-b"] .checks li').count()).toBeGreaterThanOrEqual(5)
    await page.close()
  })
})
