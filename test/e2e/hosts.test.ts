import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { screenshot, signIn, startBrowser, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'
import { adminClient } from '../helpers/client'
import { makeLab } from '../integration/vms/vm-helpers'

// The Hosts page in Chromium (this host's figures, its four charts drawn, its monitoring link) and
// a running seat's charts on its VM page.
let server: TestServer
let browser: TestBrowser
let seat: string
const MONITORING = 'https://grafana.example.edu/d/labvirt?var-host=e2e-host'

beforeAll(async () => {
  server = await startServer({ LABVIRT_SAMPLE_INTERVAL: '1', LABVIRT_RECONCILE_INTERVAL: '1', LABVIRT_HOST_ID: 'e2e-host', LABVIRT_MONITORING_URL: MONITORING }, { vms: true })
  // A blank-disk seat: its BIOS runs (CPU) and reads the disk, which is all the charts need.
  const { lab } = await makeLab(await adminClient(server.url), 1, 'hst')
  seat = `${lab.id}-1`
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('the Hosts page', () => {
  it('is in the nav and draws CPU, memory, disk and network charts of this host', async () => {
    const page = await browser.page()
    const fetched: string[] = []
    page.on('request', (r) => void fetched.push(r.url()))
    await page.goto(server.url)
    await signIn(page)
    await page.locator('nav a', { hasText: 'Hosts' }).click()
    await page.waitForURL((u) => u.pathname === '/hosts')
    const host = page.locator('.host[data-host="e2e-host"]')
    await expect.poll(() => host.locator('figure.chart canvas').count(), { timeout: 20_000 }).toBe(4)
    expect(await host.locator('figcaption').allInnerTexts()).toEqual(['CPU', 'Memory', 'Disk free', 'Network'])
    expect(await host.locator('a', { hasText: 'Monitoring' }).getAttribute('href')).toBe(MONITORING)
    await expect.poll(() => host.locator('.figures').innerText()).toMatch(/Memory\s+[\d.,]+ [KMGT]iB of [\d.,]+ [KMGT]iB/)
    // uPlot came with the charts, not with the sign-in page or the dashboard.
    const uplot = fetched.findIndex((u) => /\/assets\/uPlot/i.test(u))
    expect(uplot).toBeGreaterThan(fetched.findIndex((u) => /\/assets\/Hosts-/.test(u)))
    await screenshot(page, 'hosts')
  })

  it('draws a running seat\'s CPU, memory and disk on its VM page, and says why there is no network chart', async () => {
    const page = await browser.signedIn(server.url, `/vms/${seat}`)
    const stats = page.locator('.vm-stats')
    await expect.poll(() => stats.locator('figure.chart canvas').count(), { timeout: 30_000 }).toBe(3)
    expect(await stats.locator('figcaption').allInnerTexts()).toEqual(['CPU (% of one core)', 'Memory (RSS)', 'Disk'])
    await expect.poll(() => stats.innerText()).toContain('No network figures')
    await stats.locator('select').selectOption('day')
    await expect.poll(() => stats.locator('figure.chart canvas').count()).toBe(3)
    await screenshot(page, 'vm-stats')
  })

  it('speaks Spanish: headings, figures and the labels of the charts', async () => {
    const es = await startBrowser({ locale: 'es-ES' })
    try {
      const page = await es.signedIn(server.url, '/hosts')
      const host = page.locator('.host[data-host="e2e-host"]')
      await expect.poll(() => host.locator('figure.chart canvas').count(), { timeout: 20_000 }).toBe(4)
      expect(await host.locator('figcaption').allInnerTexts()).toEqual(['CPU', 'Memoria', 'Disco libre', 'Red'])
      expect(await page.locator('h1').innerText()).toBe('Hosts')
      await expect.poll(() => host.locator('.figures').innerText()).toMatch(/Memoria\s+[\d.,]+ [KMGT]iB de [\d.,]+ [KMGT]iB/)
      expect(await host.locator('.chart-box').first().getAttribute('aria-label')).toMatch(/^CPU: ocupada: /)
      await screenshot(page, 'hosts-es')
    } finally {
      await es.close()
    }
  })
})
