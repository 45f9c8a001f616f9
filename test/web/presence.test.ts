import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../local/gateway.js'
import { ownGateway } from '../support/gateways.js'
import { unique } from '../support/huddle.js'
import {
  createGroup,
  desktop,
  launchChromium,
  openWebChat,
  phone,
  seriousAccessibilityProblems,
  shows,
  signIn,
  uncaughtErrors,
} from '../support/web.js'

/**
 * alice (desktop) and bob (phone) in a group of two, on a gateway of this file's own whose grace period is
 * two seconds: each sees the other online, bob sees alice's "last seen" once she has signed out, and nothing
 * once she hides it.
 */
describe('presence in the web chat, seen from both sides, in Chromium', () => {
  let gateway: Gateway
  let browser: Browser
  let a: Page
  let b: Page
  const [alice, bob] = [unique('alice'), unique('bob')]
  const presenceLine = (page: Page) => page.locator('.conversation-head .presence-line')
  /** The dot beside `iss` in the conversation's member line: online, away, or none. */
  const dotOf = async (page: Page, iss: string) => {
    const dot = page.locator(`.conversation-head .members [data-member="${iss}"] .dot`)
    return (await dot.count()) === 0 ? 'none' : dot.getAttribute('data-presence')
  }

  beforeAll(async () => {
    gateway = await ownGateway({ settings: { presence: { graceSeconds: 2 } } })
    browser = await launchChromium()
    ;[a, b] = await Promise.all([
      openWebChat(browser, desktop, gateway.url),
      openWebChat(browser, phone, gateway.url),
    ])
  })
  afterAll(async () => {
    await browser?.close()
    await gateway?.close()
  })

  it('shows each the other online: a green dot by the name, and "online" under the heading', async () => {
    await Promise.all([signIn(a, alice), signIn(b, bob)])
    await createGroup(a, 'Walk', bob)
    await b.getByRole('button', { name: 'Accept invite to Walk' }).click()
    await b.getByRole('heading', { name: 'Walk' }).waitFor()
    await shows(presenceLine(b), /^online$/)
    await shows(presenceLine(a), /^online$/)
    await expect.poll(() => dotOf(a, bob)).toBe('online')
    // Said in words too, for screen readers: "bob (online)".
    expect(await a.locator('.conversation-head .members').textContent()).toContain(`${bob} (online)`)
    // On the phone, "online" takes the members' line: the header stays one line under the name.
    expect(await b.locator('.conversation-head .members').isHidden()).toBe(true)
    for (const page of [a, b]) expect(await seriousAccessibilityProblems(page)).toEqual([])
  })

  it('shows "last seen" once the other has signed out and the grace period has passed', async () => {
    await a.getByRole('button', { name: 'Sign out' }).click()
    await shows(presenceLine(b), /^last seen today at \d/)
    // bob's group menu lists alice with a grey dot and the same words.
    await b.getByLabel('Group menu of Walk').click()
    const member = b.getByRole('list', { name: 'Members' }).locator(`[data-member="${alice}"]`)
    await shows(member, /last seen today at/)
    expect(await member.locator('.dot').getAttribute('data-presence')).toBe('away')
    expect(await seriousAccessibilityProblems(b)).toEqual([])
    await b.getByLabel('Group menu of Walk').click()
  })

  it('shows nothing of one who hides their online status, and the choice stays after a reload', async () => {
    await signIn(a, alice)
    await shows(presenceLine(b), /^online$/)
    const hide = a.getByRole('checkbox', { name: 'Hide my online status' })
    await hide.check()
    await expect.poll(() => presenceLine(b).isHidden()).toBe(true)
    await expect.poll(() => dotOf(b, alice)).toBe('none')
    expect(await b.locator('.conversation-head .members').isVisible()).toBe(true)
    await a.reload()
    await shows(a.locator('#status'), 'Connected')
    expect(await hide.isChecked()).toBe(true)
    expect(await presenceLine(b).isHidden()).toBe(true)
    // alice's second browser has never been told: it learns her choice from the server on opening the group.
    const other = await openWebChat(browser, desktop, gateway.url)
    await signIn(other, alice)
    await other.getByRole('button', { name: /^Walk/ }).click()
    await expect
      .poll(() => other.getByRole('checkbox', { name: 'Hide my online status' }).isChecked())
      .toBe(true)
    expect([...uncaughtErrors(a), ...uncaughtErrors(b), ...uncaughtErrors(other)]).toEqual([])
  })
})
