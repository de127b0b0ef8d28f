import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { po as poFormat, type GetTextTranslation } from 'gettext-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, ApiClient } from '../helpers/client'
import { screenshot, signIn, startBrowser, type Page, type TestBrowser } from '../helpers/browser'
import { startServer, type TestServer } from '../helpers/server'

// The console in Chromium against the built server, with real QEMU seats (TCG).
let server: TestServer
let browser: TestBrowser
const VIEWER = { username: 'viewer', password: 'viewer-password-1', role: 'viewer' }

beforeAll(async () => {
  server = await startServer({}, { vms: true })
  const admin = await adminClient(server.url)
  expect((await admin.post('/api/users', VIEWER)).status).toBe(201)
  browser = await startBrowser()
})
afterAll(async () => {
  await browser?.close()
  await server?.dispose()
})

/** A new tab on `path`, signed in afresh (the browser's earlier session is dropped). */
const signedIn = (path = '/', user?: { username: string; password: string }) => browser.signedIn(server.url, path, user)

const seat = (page: Page, id: string) => page.locator(`.seat[data-vm="${id}"]`)

/** Every msgid (server, CLI, console) whose Spanish differs from its English, as a whole-word pattern. */
function englishPatterns() {
  const po = poFormat.parse(readFileSync(resolve(__dirname, '../../locales/es.po')))
  const out: { msgid: string; re: RegExp }[] = []
  for (const entry of Object.values<GetTextTranslation>(po.translations[''] ?? {})) {
    const es = entry.msgstr[0]
    if (!entry.msgid || !es || es === entry.msgid) continue
    const parts = entry.msgid.split(/\{\w+\}/).map((p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    out.push({ msgid: entry.msgid, re: new RegExp(`(?<![\\p{L}\\p{N}])${parts.join('.+?')}(?![\\p{L}\\p{N}])`, 'u') })
  }
  return out
}

/** The text a reader meets on the page: visible text and the labels of controls. */
const readable = (page: Page) =>
  page.evaluate(() => {
    const attrs = [...document.querySelectorAll('[placeholder],[aria-label],[title]')].flatMap((el) =>
      ['placeholder', 'aria-label', 'title'].map((a) => el.getAttribute(a) ?? ''),
    )
    return [...document.body.innerText.split('\n'), ...attrs].map((s) => s.trim()).filter(Boolean)
  })

describe('the web console', () => {
  it('signs in: a bad password shows the error, the right one opens the dashboard', async () => {
    const page = await browser.page()
    await page.goto(server.url)
    await page.waitForURL((u) => u.pathname === '/sign-in')
    await page.locator('#password').fill('not-the-password')
    await page.locator('button[type=submit]').click()
    await expect.poll(() => page.locator('.form-error').innerText()).toMatch(/wrong/i)
    expect(new URL(page.url()).pathname).toBe('/sign-in')
    await signIn(page)
    await page.locator('h1', { hasText: 'Dashboard' }).waitFor()
    await page.close()
  })

  it('brings a deep link back after signing in', async () => {
    await browser.context.clearCookies()
    const page = await browser.page()
    await page.goto(`${server.url}/labs/x?tab=seats`)
    await page.waitForURL((u) => u.pathname === '/sign-in')
    expect(new URL(page.url()).searchParams.get('next')).toBe('/labs/x?tab=seats')
    await signIn(page)
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/labs/x?tab=seats')
    await page.close()
  })

  it('sends a user whose session ends back to sign-in, and then back to the page', async () => {
    const page = await signedIn('/')
    await page.locator('.dashboard').waitFor()
    const cookies = await browser.context.cookies()
    await browser.context.clearCookies()
    // The session ends on the server, as when it expires: the live stream closes, and the
    // dashboard's next call (the stream's reconnection) gets 401.
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ')
    expect((await fetch(`${server.url}/api/auth/logout`, { method: 'POST', headers: { cookie } })).status).toBeLessThan(300)
    await page.waitForURL((u) => u.pathname === '/sign-in', { timeout: 15_000 })
    await signIn(page)
    expect(new URL(page.url()).pathname).toBe('/')
    await page.close()
  })

  it('creates the demo on an empty install with one click and shows its 2 seats running, live', async () => {
    const page = await signedIn('/')
    await page.getByRole('button', { name: 'Create the demo lab' }).click()
    for (const id of ['demo-1', 'demo-2']) {
      await expect.poll(() => seat(page, id).getAttribute('data-state'), { timeout: 90_000 }).toBe('running')
    }
    await expect(seat(page, 'demo-1').innerText()).resolves.toContain('running')
    // Running first, ready once the guest's port echoes: the card says which.
    for (const id of ['demo-1', 'demo-2']) {
      await expect.poll(() => seat(page, id).getAttribute('data-service'), { timeout: 90_000 }).toBe('ready')
    }
    await expect(seat(page, 'demo-1').innerText()).resolves.toMatch(/Service\s+ready/)
    await screenshot(page, 'dashboard-en')
    await page.close()
  })

  it('shows a seat whose QEMU was killed from outside leave running and come back, live', async () => {
    const page = await signedIn('/')
    await expect.poll(() => seat(page, 'demo-1').getAttribute('data-state'), { timeout: 60_000 }).toBe('running')
    const startedBefore = await seat(page, 'demo-1').getAttribute('data-started')
    expect(await seat(page, 'demo-1').getAttribute('data-last-exit')).toBeNull()
    // Every state the card shows from now on, as the DOM changes.
    await page.evaluate(() => {
      const w = window as unknown as { seen: string[] }
      w.seen = []
      new MutationObserver(() => {
        const s = document.querySelector('.seat[data-vm="demo-1"]')?.getAttribute('data-state')
        if (s && s !== w.seen.at(-1)) w.seen.push(s)
      }).observe(document.body, { subtree: true, attributes: true, childList: true })
    })
    const pidfile = join(server.dataDir, 'run', 'demo-1.pid')
    const pid = Number((await readFile(pidfile, 'utf8')).trim())
    expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).toContain(pidfile)
    process.kill(pid, 'SIGKILL')
    await expect
      .poll(async () => (await seat(page, 'demo-1').getAttribute('data-started')) !== startedBefore && (await seat(page, 'demo-1').getAttribute('data-state')), { timeout: 90_000 })
      .toBe('running')
    // It left running: the card says when and why it exited (a poll every 2 s may be too slow to
    // catch the moments it was down; the live stream shows those too).
    expect(await seat(page, 'demo-1').getAttribute('data-last-exit')).not.toBeNull()
    await expect(seat(page, 'demo-1').innerText()).resolves.toMatch(/Exited by itself/)
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen)
    expect(seen.at(-1), `states shown: ${seen.join(' -> ')}`).toBe('running')
    await page.close()
  })

  it('switches to Spanish, remembers it, and leaves no English on the dashboard', async () => {
    const page = await signedIn('/')
    await seat(page, 'demo-1').waitFor()
    await page.getByLabel('Language').selectOption('es')
    await page.locator('h1', { hasText: 'Panel' }).waitFor()
    const patterns = englishPatterns()
    const english = async () => (await readable(page)).flatMap((line) => patterns.filter((p) => p.re.test(line)).map((p) => `${p.msgid} in "${line}"`))
    // The VMs' own messages (an exit's reason) come again from the server, in Spanish.
    await expect.poll(english, { timeout: 10_000 }).toEqual([])
    await expect.poll(() => seat(page, 'demo-1').getAttribute('data-state'), { timeout: 60_000 }).toBe('running')
    await expect(seat(page, 'demo-1').innerText()).resolves.toContain('en marcha')
    await screenshot(page, 'dashboard-es')
    // A tablet: everything fits without scrolling sideways, in the longer language.
    await page.setViewportSize({ width: 768, height: 1000 })
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768)
    await screenshot(page, 'dashboard-es-768')
    // Remembered: a new tab opens in Spanish, and the API answers in it.
    const again = await browser.page()
    await again.goto(server.url)
    await again.locator('h1', { hasText: 'Panel' }).waitFor()
    await page.getByLabel('Idioma').selectOption('en')
    await page.close()
    await again.close()
  })

  it('shows a viewer no write control at all', async () => {
    const page = await signedIn('/', VIEWER)
    await seat(page, 'demo-1').waitFor()
    await expect(page.locator('.who').innerText()).resolves.toContain('viewer')
    expect(await page.locator('.seat input[type=checkbox]').count()).toBe(0)
    expect(await page.locator('.bulk').count()).toBe(0)
    // The only button is signing out.
    expect(await page.locator('button').allInnerTexts()).toEqual(['Sign out'])
    await page.close()
  })
})

describe('bulk actions', () => {
  it('runs an action on the selected seats and reports each seat that failed', async () => {
    const page = await signedIn('/')
    await expect.poll(() => seat(page, 'demo-2').getAttribute('data-state'), { timeout: 60_000 }).toBe('running')
    await page.getByRole('button', { name: 'Select all shown' }).click()
    await page.getByRole('button', { name: 'Reset', exact: true }).click()
    await expect.poll(() => page.locator('.bulk-result').innerText()).toContain('Reset: 2 of 2 seats done')
    // One seat stopped (elsewhere), then both reset: the stopped one fails, with the server's reason.
    const admin = await adminClient(server.url)
    expect((await admin.post('/api/vms/demo-2/actions', { action: 'stop' })).status).toBe(200)
    await expect.poll(() => seat(page, 'demo-2').getAttribute('data-state'), { timeout: 30_000 }).toBe('held')
    await page.getByRole('button', { name: 'Reset', exact: true }).click()
    await expect.poll(() => page.locator('.bulk-result').innerText()).toContain('Reset: 1 of 2 seats done')
    await expect(page.locator('.bulk-result .form-error').innerText()).resolves.toMatch(/demo-2: .*not running/)
    await page.close()
  })
})

describe('the first visit', () => {
  it('follows the browser\'s language, on the sign-in page too, and API errors come back in it', async () => {
    const es = await startBrowser({ locale: 'es-ES' })
    try {
      const page = await es.page()
      await page.goto(server.url)
      await page.locator('button[type=submit]', { hasText: 'Iniciar sesión' }).waitFor()
      await page.locator('#password').fill('no-es-la-clave')
      await page.locator('button[type=submit]').click()
      const error = await page.locator('.form-error').innerText()
      const english = new ApiClient(server.url, 'en')
      const answer = await english.post('/api/auth/login', { username: 'admin', password: 'no-es-la-clave' })
      expect(error).not.toContain(answer.body.message)
      expect(error.length).toBeGreaterThan(3)
    } finally {
      await es.close()
    }
  })
})
