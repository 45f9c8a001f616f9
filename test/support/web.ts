import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { crc32, deflateSync } from 'node:zlib'
import { type Browser, type BrowserContextOptions, chromium, type Locator, type Page } from 'playwright-core'
import { expect } from 'vitest'
import { httpUrl } from './huddle.js'

/** Debian's Chromium (`CHROMIUM` names another build); .ci/run installs it. */
export function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium'
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install chromium, or set CHROMIUM to its path`)
  }
  return chromium.launch({ executablePath, args: ['--no-sandbox'] })
}

export const phone: BrowserContextOptions = { viewport: { width: 390, height: 740 }, hasTouch: true }
export const desktop: BrowserContextOptions = { viewport: { width: 960, height: 600 } }

const uncaught = new WeakMap<Page, string[]>()
const logged = new WeakMap<Page, string[]>()

/**
 * The web chat in a browser profile of its own (its own storage, as another person's browser), from the
 * run's local stack or from a test file's own gateway at `url`.
 */
export async function openWebChat(
  browser: Browser,
  options: BrowserContextOptions = desktop,
  url = httpUrl(),
): Promise<Page> {
  const context = await browser.newContext(options)
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const errors: string[] = []
  uncaught.set(page, errors)
  page.on('pageerror', (error) => errors.push(error.message))
  const consoleErrors: string[] = []
  logged.set(page, consoleErrors)
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text())
  })
  await page.goto(url)
  return page
}

/** The names this test file signed up at the local provider (each test's names are its own). */
const signedUp = new Set<string>()

/** The password the tests give `name`'s account. */
export const passwordOf = (name: string): string => `secret for ${name}`

/**
 * Signs in through the local OpenID provider's pages, as a person would: a new name signs up, a known one
 * signs in; a page whose session was kept (a second tab of the same browser) is signed in already. Waits
 * until the web chat says it is connected.
 */
export async function signIn(page: Page, name: string): Promise<void> {
  const start = page.getByRole('button', { name: 'Sign in', exact: true })
  const already = page.getByText(`Signed in as ${name}`, { exact: true })
  await start.or(already).filter({ visible: true }).waitFor()
  if (!(await already.isVisible())) {
    await start.click()
    await page.waitForURL(/\/oidc\/interaction\//)
    if (signedUp.has(name)) await submitAccount(page, name, 'Sign in')
    else {
      await page.getByRole('link', { name: 'Create an account' }).click()
      await submitAccount(page, name, 'Create account')
      signedUp.add(name)
    }
  }
  // The connection's status, not the devices panel's (also a status, once a second browser signs in).
  await shows(page.locator('#status'), 'Connected')
}

/** Makes the local provider's ID tokens for `sub` live `seconds` from now on (POST /dev/id-token-lifetime). */
export async function setIdTokenLifetime(sub: string, seconds: number): Promise<void> {
  const response = await fetch(`${httpUrl()}/dev/id-token-lifetime`, {
    method: 'POST',
    body: JSON.stringify({ sub, seconds }),
  })
  expect(response.status).toBe(204)
}

/** Fills the provider's sign-in or sign-up form and submits it with `button`. */
export async function submitAccount(
  page: Page,
  name: string,
  button: 'Sign in' | 'Create account',
  password = passwordOf(name),
): Promise<void> {
  await page.getByLabel('User name').fill(name)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: button, exact: true }).click()
}

/** Waits until the element's visible text contains `text`. */
export async function shows(locator: Locator, text: string | RegExp, timeout = 10_000): Promise<void> {
  const pattern = typeof text === 'string' ? new RegExp(escapeRegExp(text)) : text
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the text a person sees
  await expect.poll(() => locator.innerText(), { timeout }).toMatch(pattern)
}

/** The exceptions the page's scripts threw and nothing caught. */
export function uncaughtErrors(page: Page): string[] {
  return uncaught.get(page) ?? []
}

/** What the page's scripts logged as errors (the SDK reports what it caught this way, by default). */
export function loggedErrors(page: Page): string[] {
  return logged.get(page) ?? []
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** A small real PNG (RGB) of a sun setting over a hill, so that an avatar is plainly a picture. */
export function sunsetPng(size = 64): Buffer {
  const rows: number[] = []
  for (let y = 0; y < size; y++) {
    rows.push(0) // no filter
    for (let x = 0; x < size; x++) {
      const [u, v] = [x / size, y / size]
      const hill = v > 0.7 + 0.12 * Math.cos(u * Math.PI * 2)
      const sun = (u - 0.5) ** 2 + (v - 0.55) ** 2 < 0.045
      if (hill) rows.push(34, 87, 58)
      else if (sun) rows.push(255, 214, 92)
      else rows.push(245 - 80 * v, 120 - 60 * v, 70 + 90 * v)
    }
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8 bits per channel, RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.from(rows.map(Math.round)))),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

function pngChunk(type: string, data: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const framed = Buffer.alloc(typed.length + 8)
  framed.writeUInt32BE(data.length, 0)
  typed.copy(framed, 4)
  framed.writeUInt32BE(crc32(typed), typed.length + 4)
  return framed
}

/** Creates a group from the "New group" form, as a person would, and waits until its conversation opens. */
export async function createGroup(page: Page, name: string, members: string): Promise<void> {
  await page.getByText('New group', { exact: true }).click()
  await page.getByLabel('Group name').fill(name)
  await page.getByLabel('Members', { exact: true }).fill(members)
  await page.getByRole('button', { name: 'Create group' }).click()
  await page.getByRole('heading', { name }).waitFor()
}

const axeScript = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url))
let axeSource: Promise<string> | undefined

/** What axe-core finds serious or critical on the page as it is now: each rule's id and the first node. */
export async function seriousAccessibilityProblems(page: Page): Promise<string[]> {
  // Evaluated rather than added as a script tag, which the page's policy (script-src 'self') refuses.
  axeSource ??= readFile(axeScript, 'utf8')
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(await axeSource)
  return page.evaluate(async () => {
    const { violations } = await (
      window as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact?: string; nodes: { html: string }[] }[] }> }
      }
    ).axe.run()
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes[0]?.html ?? ''}`)
  })
}
