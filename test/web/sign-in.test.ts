import type { Browser, Page, Request } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { httpUrl, unique } from '../support/huddle.js'
import { connectionIds, cutConnections, participant, waitFor } from '../support/sdk.js'
import {
  desktop,
  launchChromium,
  openWebChat,
  phone,
  setIdTokenLifetime,
  shows,
  signIn,
  submitAccount,
  uncaughtErrors,
} from '../support/web.js'

/** The requests a page made to the local provider's token endpoint, with their form bodies. */
function tokenRequests(page: Page): URLSearchParams[] {
  const seen: URLSearchParams[] = []
  page.on('request', (request: Request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/oidc/token') {
      seen.push(new URLSearchParams(request.postData() ?? ''))
    }
  })
  return seen
}

/** Whether the page ever showed the provider's sign-in pages since this was called. */
function providerPagesShown(page: Page): () => boolean {
  let shown = false
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame() && frame.url().includes('/oidc/interaction/')) shown = true
  })
  return () => shown
}

describe('signing in to the web chat at the local OpenID provider, in Chromium', () => {
  let browser: Browser

  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('signs up and signs in with the Authorization Code flow and PKCE (S256), and two people chat', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const [a, b] = await Promise.all([openWebChat(browser, desktop), openWebChat(browser, phone)])
    const authorizations: URL[] = []
    a.on('request', (request) => {
      if (new URL(request.url()).pathname === '/oidc/auth') authorizations.push(new URL(request.url()))
    })
    const exchanges = tokenRequests(a)
    // bob opens it at localhost: the provider (its issuer names 127.0.0.1) is then another origin.
    await b.goto(httpUrl().replace('127.0.0.1', 'localhost'))
    await Promise.all([signIn(a, alice), signIn(b, bob)])

    // The authorization request carried an S256 challenge, the token request the verifier it was made from.
    const authorization = authorizations[0] as URL
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256')
    expect(authorization.searchParams.get('client_id')).toBe('huddle')
    expect(authorization.searchParams.get('redirect_uri')).toBe(`${httpUrl()}/`)
    const exchange = exchanges.find((body) => body.get('grant_type') === 'authorization_code')
    const verifier = exchange?.get('code_verifier') ?? ''
    expect(verifier).toMatch(/^[\w-]{43,128}$/)
    const challenge = Buffer.from(
      await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)),
    ).toString('base64url')
    expect(authorization.searchParams.get('code_challenge')).toBe(challenge)
    // Back at the web chat's root, with the code and state out of the address bar.
    expect(a.url()).toBe(`${httpUrl()}/`)
    await shows(a.locator('#me-name'), `Signed in as ${alice}`)

    // alice signs out, and signs in again with her password (no new account).
    await a.getByRole('button', { name: 'Sign out' }).click()
    await signIn(a, alice)

    await a.getByText('New group', { exact: true }).click()
    await a.getByLabel('Group name').fill('Signed in')
    await a.getByLabel('Members').fill(bob)
    await a.getByRole('button', { name: 'Create group' }).click()
    await b.getByRole('button', { name: 'Accept invite to Signed in' }).click()
    await b.getByLabel('Message to Signed in').fill('Hello from a real sign-in')
    await b.getByLabel('Message to Signed in').press('Enter')
    await shows(a.getByRole('list', { name: 'Messages' }), 'Hello from a real sign-in')
    expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
    await Promise.all([a.context().close(), b.context().close()])
  })

  it('keeps the session and the open conversation across a reload, with no sign-in page', async () => {
    const alice = unique('alice')
    const page = await openWebChat(browser, desktop)
    await signIn(page, alice)
    await page.getByText('New group', { exact: true }).click()
    await page.getByLabel('Group name').fill('Kept open')
    await page.getByLabel('Members').fill(unique('bob'))
    await page.getByRole('button', { name: 'Create group' }).click()
    await page.getByRole('heading', { name: 'Kept open' }).waitFor()

    const signInShown = providerPagesShown(page)
    const refreshes = tokenRequests(page)
    await page.reload()
    await shows(page.getByRole('status'), 'Connected')
    await page.getByRole('heading', { name: 'Kept open' }).waitFor()
    await shows(page.locator('#me-name'), `Signed in as ${alice}`)
    expect(signInShown()).toBe(false)
    expect(refreshes.map((body) => body.get('grant_type'))).toEqual(['refresh_token'])
    expect(uncaughtErrors(page)).toEqual([])

    // Signing out revokes the kept session: a reload then shows the sign-in screen. (Signing in again is
    // offered once the old session is over.)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await expect.poll(() => page.getByRole('button', { name: 'Sign in', exact: true }).isEnabled()).toBe(true)
    await page.reload()
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor()
    expect(await page.getByText(`Signed in as ${alice}`).count()).toBe(0)
    await page.context().close()
  })

  it('renews an expired ID token on a reconnect, and every message sent meanwhile arrives once', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    // alice's ID tokens live 5 s: each connect renews one (less than a minute left).
    await setIdTokenLifetime(alice, 5)
    const page = await openWebChat(browser, desktop)
    const refreshes = tokenRequests(page)
    await signIn(page, alice)
    const bobs = await participant(bob)
    const group = await bobs.chat.invite(unique('renewed'), 'Renewed', [alice])
    await page.getByRole('button', { name: 'Accept invite to Renewed' }).click()
    await shows(page.getByRole('list', { name: 'Messages' }), 'You joined')
    await waitFor(() => expect(bobs.joins).toContain(`${alice} joined ${group.gid}`))

    // Her ID token expires while the connection stays open; then the server closes it, and bob talks on.
    await new Promise((resolve) => setTimeout(resolve, 6000))
    const before = refreshes.length
    expect(await cutConnections(alice)).toBe(1)
    const texts = Array.from({ length: 5 }, (_, i) => `while renewing ${i} ${unique('m')}`)
    for (const text of texts) await group.message(text)

    await waitFor(async () => expect(await connectionIds(alice)).toHaveLength(1))
    await shows(page.getByRole('status'), 'Connected')
    const lines = page.getByRole('list', { name: 'Messages' })
    for (const text of texts) await shows(lines, text)
    for (const text of texts) expect(await lines.getByText(text, { exact: true }).count()).toBe(1)
    expect(refreshes.slice(before).map((body) => body.get('grant_type'))).toContain('refresh_token')
    expect(uncaughtErrors(page)).toEqual([])
    await page.context().close()
  })

  it('ends a session the provider no longer renews at the sign-in screen, saying so', async () => {
    const alice = unique('alice')
    // Her ID tokens live 10 s, so her next reconnect needs the refresh token.
    await setIdTokenLifetime(alice, 10)
    const first = await openWebChat(browser, desktop)
    await signIn(first, alice)
    // A second tab of the same browser takes the kept session over (its refresh rotates the token), and
    // signs out there: the refresh token is revoked.
    const second = await first.context().newPage()
    await second.goto(httpUrl())
    await signIn(second, alice)
    await second.getByRole('button', { name: 'Sign out' }).click()
    await expect
      .poll(() => second.getByRole('button', { name: 'Sign in', exact: true }).isEnabled())
      .toBe(true)

    expect(await cutConnections(alice)).toBe(1)
    await shows(first.getByRole('alert'), 'Your session has ended')
    await first.getByRole('button', { name: 'Sign in', exact: true }).waitFor()
    await shows(first.getByRole('status'), 'Not connected')
    expect(uncaughtErrors(first)).toEqual([])
    await first.context().close()
  })

  it('says so when sign-in is cancelled, a password is wrong, or the provider names another issuer', async () => {
    const carol = unique('carol')
    const page = await openWebChat(browser, phone)
    await signIn(page, carol)
    await page.getByRole('button', { name: 'Sign out' }).click()

    // Cancel on the provider's page ends the flow with access_denied, which the web chat reports.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.getByRole('button', { name: 'Cancel' }).click()
    await shows(page.getByRole('alert'), 'Sign-in was cancelled, so you are not signed in.')
    expect(page.url()).toBe(`${httpUrl()}/`)

    // A wrong password: the provider's page says so and keeps the name.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await submitAccount(page, carol, 'Sign in', 'not her password')
    await shows(page.getByRole('alert'), 'That name and password do not match an account.')
    expect(await page.getByLabel('User name').inputValue()).toBe(carol)
    // A taken name, on the sign-up page.
    await page.getByRole('link', { name: 'Create an account' }).click()
    await submitAccount(page, carol, 'Create account')
    await shows(page.getByRole('alert'), `The name “${carol}” is taken`)

    // A config.json whose issuer is not the one the provider names.
    await page.route('**/config.json', async (route) => {
      const config = await (await route.fetch()).json()
      await route.fulfill({ json: { ...config, signIn: { ...config.signIn, issuer: `${httpUrl()}/oidc/` } } })
    })
    await page.goto(httpUrl())
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await shows(page.getByRole('alert'), "names another issuer than this web chat's settings")
    expect(uncaughtErrors(page)).toEqual([])
    await page.context().close()
  })
})
