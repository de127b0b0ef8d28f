import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { ADMIN_PASSWORD } from './server'

// Debian's `chromium` (scripts/setup.sh), the version playwright-core 1.64 drives.
const CHROMIUM = process.env.LABVIRT_CHROMIUM || '/usr/bin/chromium'
const ARGS = ['--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
export const SCREENSHOTS = resolve(fileURLToPath(new URL('../e2e/screenshots/', import.meta.url)))

export interface TestBrowser {
  context: BrowserContext
  /** A new tab in the browser's one profile (they share the session cookie and localStorage). */
  page(): Promise<Page>
  /** A new tab on `baseUrl + path`, signed in afresh as `user` (admin by default; earlier sessions dropped). */
  signedIn(baseUrl: string, path?: string, user?: { username: string; password: string }): Promise<Page>
  close(): Promise<void>
}

/**
 * Chromium with a new empty profile, whose pages speak `locale` (navigator.languages and
 * Accept-Language) and are 1280 px wide unless told otherwise.
 */
export async function startBrowser(opts: { locale?: string; width?: number } = {}): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'labvirt-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    locale: opts.locale ?? 'en-US',
    viewport: { width: opts.width ?? 1280, height: 900 },
  })
  return {
    context,
    page: () => context.newPage(),
    async signedIn(baseUrl, path = '/', user) {
      await context.clearCookies()
      const page = await context.newPage()
      await page.goto(`${baseUrl}${path}`)
      await signIn(page, user?.username, user?.password)
      return page
    },
    async close() {
      await context.close()
      await rm(userDataDir, { recursive: true, force: true })
    },
  }
}

/** Signs in through the sign-in form (the page must show it) and waits to leave it. */
export async function signIn(page: Page, username = 'admin', password = ADMIN_PASSWORD) {
  await page.locator('#username').fill(username)
  await page.locator('#password').fill(password)
  await page.locator('button[type=submit]').click()
  await page.waitForURL((url) => url.pathname !== '/sign-in')
}

/** Saves a full-page screenshot as test/e2e/screenshots/<name>.png (git-ignored), for people to look at. */
export async function screenshot(page: Page, name: string) {
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

export type { Browser, Page }
