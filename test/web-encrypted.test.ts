import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unique } from './support/huddle.js'
import {
  desktop,
  launchChromium,
  loggedErrors,
  openWebChat,
  phone,
  shows,
  signIn,
  uncaughtErrors,
} from './support/web.js'

const cannotRead = '(encrypted message this device cannot read)'

describe('an encrypted group between two people in the web chat, in Chromium', () => {
  let browser: Browser

  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })

  it("lets the invitee join the keys from the creator's Welcome, and each read what the other says", async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    // Each a browser of their own: their own IndexedDB of keys, their own MLS worker.
    const [a, b] = await Promise.all([openWebChat(browser, desktop), openWebChat(browser, phone)])
    // What bob's page sends: it joins the keys from alice's Welcome, with no commit of its own.
    const fromBobsPage: string[] = []
    b.on('websocket', (socket) => socket.on('framesent', ({ payload }) => fromBobsPage.push(String(payload))))
    await Promise.all([signIn(a, alice), signIn(b, bob)])

    await a.getByText('New group', { exact: true }).click()
    await a.getByLabel('Group name').fill('Sealed plans')
    await a.getByLabel('Members').fill(bob)
    await a.getByLabel('End-to-end encrypted').check()
    await a.getByRole('button', { name: 'Create group' }).click()
    await a.getByRole('heading', { name: 'Sealed plans' }).waitFor()
    await shows(a.locator('.conversation-head .tag'), '🔒 encrypted')

    await shows(b.getByRole('listitem', { name: 'Invite to Sealed plans' }), '🔒 encrypted')
    await b.getByRole('button', { name: 'Accept invite to Sealed plans' }).click()
    await b.getByRole('heading', { name: 'Sealed plans' }).waitFor()
    const atAlice = a.getByRole('list', { name: 'Messages' })
    const atBob = b.getByRole('list', { name: 'Messages' })
    await shows(atAlice, `${bob} joined`)

    const send = async (page: Page, text: string) => {
      await page.getByLabel('Message to Sealed plans').fill(text)
      await page.getByLabel('Message to Sealed plans').press('Enter')
    }
    // bob first: his send waits for his keys, so alice's page has added his device by the time she answers.
    const said = [
      [b, `the key is under the mat ${unique('b')}`, atAlice],
      [a, `see you at the lighthouse ${unique('a')}`, atBob],
      [b, `bring a torch ${unique('b')}`, atAlice],
      [a, `two, in case ${unique('a')}`, atBob],
    ] as const
    for (const [from, text, to] of said) {
      await send(from, text)
      await shows(to, text)
    }
    // Each page shows its own messages too, from what it kept when it sent them.
    for (const [from, text] of said) await from.locator('.message.mine', { hasText: text }).waitFor()
    expect(fromBobsPage.filter((frame) => frame.includes('"action":"commit"'))).toEqual([])

    for (const [page, lines] of [
      [a, atAlice],
      [b, atBob],
    ] as const) {
      expect(await lines.textContent()).not.toContain(cannotRead)
      expect(await page.locator('#encryption-problem').textContent()).toBe('')
      expect(page.workers()).toHaveLength(1)
    }
    expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
    expect([...loggedErrors(a), ...loggedErrors(b)]).toEqual([])
    await Promise.all([a.context().close(), b.context().close()])
  }, 60_000)
})
