import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { unique } from '../support/huddle.js'
import {
  desktop,
  launchChromium,
  loggedErrors,
  openWebChat,
  phone,
  shows,
  signIn,
  uncaughtErrors,
} from '../support/web.js'

const cannotRead = '(encrypted message this device cannot read)'
const connect = connector()

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
    await shows(a.locator('.conversation-head .tag'), 'Encrypted')

    await shows(b.getByRole('listitem', { name: 'Invite to Sealed plans' }), 'Encrypted')
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
    // The group list previews the last message as decrypted on the device.
    await shows(b.locator('#groups .preview'), `${alice}: ${said[3][1]}`)

    // Reactions travel sealed with the group's keys: alice reacts to bob's first message, bob adds his.
    const chip = (page: Page, name: string) =>
      page.getByRole('list', { name: 'Reactions' }).getByRole('button', { name, exact: true })
    await a.getByRole('button', { name: `React to ${bob}: ${said[0][1]}` }).click()
    await a.getByRole('button', { name: 'React with thumbs up' }).click()
    await shows(chip(b, `👍 by ${alice}`), '👍 1')
    await chip(b, `👍 by ${alice}`).click()
    await shows(chip(a, `👍 by you and ${bob}`), '👍 2')
    await shows(chip(b, `👍 by ${alice} and you`), '👍 2')
    await b.reload()
    await shows(b.locator('#status'), 'Connected')
    await shows(chip(b, `👍 by ${alice} and you`), '👍 2')

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
  }, 90_000)

  it('lets a second browser of the same person in once its first approves it, and it reads what follows', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const [laptop, b] = await Promise.all([openWebChat(browser, desktop), openWebChat(browser, phone)])
    await Promise.all([signIn(laptop, alice), signIn(b, bob)])
    await laptop.getByText('New group', { exact: true }).click()
    await laptop.getByLabel('Group name').fill('Two screens')
    await laptop.getByLabel('Members').fill(bob)
    await laptop.getByLabel('End-to-end encrypted').check()
    await laptop.getByRole('button', { name: 'Create group' }).click()
    await b.getByRole('button', { name: 'Accept invite to Two screens' }).click()
    await b.getByRole('heading', { name: 'Two screens' }).waitFor()

    // alice signs in on a second browser: it waits until her first approves it.
    const tablet = await openWebChat(browser, phone)
    await signIn(tablet, alice)
    await shows(tablet.locator('#device-status'), 'approve it in a browser where you are already signed in')
    await laptop.getByRole('button', { name: /^Approve device / }).click()
    // Approving signs the list's next version in the laptop's worker; a busy machine takes its time.
    await shows(laptop.locator('#device-status'), 'Your safety number:', 30_000)
    await shows(tablet.locator('#device-status'), 'Your safety number:', 30_000)
    // Both of alice's browsers show the same safety number.
    expect(await tablet.locator('#device-status').textContent()).toBe(
      await laptop.locator('#device-status').textContent(),
    )

    await tablet.getByRole('button', { name: /Two screens/ }).click()
    await tablet.getByRole('heading', { name: 'Two screens' }).waitFor()
    // The laptop adds the tablet to the group's keys: what is said from then on, the tablet reads.
    const gid = String(await tablet.locator('[data-gid]').first().getAttribute('data-gid'))
    const [observer] = await connect(alice)
    await expect
      .poll(async () => ((await observer.ok('roster', { gid })).leaves as unknown[]).length, {
        timeout: 15_000,
      })
      .toBe(3)
    const text = `both of your screens ${unique('m')}`
    await b.getByLabel('Message to Two screens').fill(text)
    await b.getByLabel('Message to Two screens').press('Enter')
    const atTablet = tablet.getByRole('list', { name: 'Messages' })
    await shows(atTablet, text)
    expect(await atTablet.textContent()).not.toContain(cannotRead)
    const reply = `read on the tablet ${unique('r')}`
    await tablet.getByLabel('Message to Two screens').fill(reply)
    await tablet.getByLabel('Message to Two screens').press('Enter')
    await shows(b.getByRole('list', { name: 'Messages' }), reply)
    expect(await b.getByRole('list', { name: 'Messages' }).textContent()).not.toContain(cannotRead)
    for (const page of [laptop, tablet, b]) {
      expect(uncaughtErrors(page)).toEqual([])
      expect(loggedErrors(page)).toEqual([])
    }
    await Promise.all([laptop, tablet, b].map((page) => page.context().close()))
  }, 150_000)
})
