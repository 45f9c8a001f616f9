import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unique } from '../support/huddle.js'
import { participant, waitFor } from '../support/sdk.js'
import {
  createGroup,
  desktop,
  launchChromium,
  openWebChat,
  phone,
  seriousAccessibilityProblems,
  shows,
  signIn,
  sunsetPng,
  uncaughtErrors,
} from '../support/web.js'

/**
 * One conversation between alice (desktop) and bob (phone), carol only invited: each feature is done on one
 * side and seen on the other. The tests run in order, on the same group.
 */
describe('a conversation in the web chat, seen from both sides, in Chromium', () => {
  let browser: Browser
  let a: Page
  let b: Page
  const [alice, bob, carol] = [unique('alice'), unique('bob'), unique('carol')]
  const messagesOf = (page: Page) => page.getByRole('list', { name: 'Messages' })
  const send = async (page: Page, text: string) => {
    await page.getByLabel('Message to Trip').fill(text)
    await page.getByLabel('Message to Trip').press('Enter')
  }
  const message = (page: Page, text: string) =>
    messagesOf(page).getByRole('listitem').filter({ hasText: text })
  const ticksOf = (page: Page, text: string) =>
    message(page, text).locator('.ticks').getAttribute('aria-label')

  beforeAll(async () => {
    browser = await launchChromium()
    ;[a, b] = await Promise.all([openWebChat(browser, desktop), openWebChat(browser, phone)])
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('signs both in from a sign-in screen that passes axe at both widths, and opens a group for them', async () => {
    // The sign-in screen, at both widths, before anyone signs in.
    for (const page of [a, b]) {
      await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor()
      expect(await seriousAccessibilityProblems(page)).toEqual([])
    }
    // At desktop width the Sign in button is one line high.
    const button = await a.getByRole('button', { name: 'Sign in', exact: true }).boundingBox()
    expect(button?.height).toBeLessThan(48)
    await Promise.all([signIn(a, alice), signIn(b, bob)])
    await createGroup(a, 'Trip', `${bob}, ${carol}`)
    await b.getByRole('button', { name: 'Accept invite to Trip' }).click()
    await b.getByRole('heading', { name: 'Trip' }).waitFor()
    await shows(messagesOf(a), `${bob} joined`)
  })

  it('shows joined members apart from invitees, and refuses a member name with a space', async () => {
    for (const page of [a, b])
      await shows(page.locator('.conversation-head .members'), '2 members, 1 invited')
    await shows(a.locator('.conversation-head .members'), `invited: ${carol}`)
    await a.getByText('New group', { exact: true }).click()
    await a.getByLabel('Group name').fill('Never made')
    await a.getByLabel('Members', { exact: true }).fill('bob smith')
    await a.getByRole('button', { name: 'Create group' }).click()
    await shows(a.locator('#create-problem'), '“bob smith” has a space')
    await a.getByText('New group', { exact: true }).click()
  })

  it('ticks a message sent, delivered, then read, as the other person receives and opens it', async () => {
    // bob is on his phone's group list: his device receives alice's message but he has not read it.
    await b.getByRole('button', { name: 'Back to groups' }).click()
    await send(a, 'Tickets booked')
    await expect.poll(() => ticksOf(a, 'Tickets booked'), { timeout: 10_000 }).toBe('Delivered')
    await b.getByRole('button', { name: /^Trip/ }).click()
    await shows(messagesOf(b), 'Tickets booked')
    await expect.poll(() => ticksOf(a, 'Tickets booked'), { timeout: 10_000 }).toBe('Read')
    // bob's own messages carry ticks; alice's, on his side, do not.
    expect(await message(b, 'Tickets booked').locator('.ticks').count()).toBe(0)
  })

  it('edits and deletes one’s own message, for both people, with the delete confirmed', async () => {
    await send(a, 'Train at 8')
    await shows(messagesOf(b), 'Train at 8')
    // Only one's own messages offer Edit and Delete.
    expect(await b.getByRole('button', { name: /^Edit your message: Train at 8/ }).count()).toBe(0)
    await a.getByRole('button', { name: 'Edit your message: Train at 8' }).click()
    await shows(a.locator('.replying-bar'), 'Editing your message')
    await a.getByLabel('Message to Trip').fill('Train at 9')
    await a.getByLabel('Message to Trip').press('Enter')
    await shows(message(b, 'Train at 9'), '(edited)')
    // bob's group list previews the message as edited, then as deleted.
    await shows(b.locator('#groups .preview'), `${alice}: Train at 9`)
    await shows(message(a, 'Train at 9'), '(edited)')

    await a.getByRole('button', { name: 'Delete your message: Train at 9' }).click()
    const dialog = a.getByRole('dialog')
    await shows(dialog, 'Delete your message “Train at 9” for everyone?')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    expect(await message(a, 'Train at 9').count()).toBe(1)
    await a.getByRole('button', { name: 'Delete your message: Train at 9' }).click()
    await a.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
    await expect.poll(() => message(b, 'Train at 9').count(), { timeout: 10_000 }).toBe(0)
    await shows(messagesOf(b), 'Message deleted')
    await shows(b.locator('#groups .preview'), `${alice}: Message deleted`)
  })

  it('groups one sender’s messages under one name, below one date, with Reply shown on focus', async () => {
    await send(b, 'Bringing snacks')
    await send(b, 'And a map')
    const second = message(a, 'And a map')
    await second.waitFor()
    expect(await second.getAttribute('class')).toContain('continued')
    expect(await message(a, 'Bringing snacks').getAttribute('class')).not.toContain('continued')
    // One date above the conversation (everything was said today), however many lines it has.
    const shownDays = messagesOf(a).locator('.day:not([hidden])')
    await expect.poll(() => shownDays.allInnerTexts(), { timeout: 10_000 }).toEqual(['Today'])
    // The actions are out of sight until the message is hovered or focused, and reachable by keyboard.
    const reply = a.getByRole('button', { name: `Reply to ${bob}: And a map` })
    const actions = second.locator('.actions')
    await a.mouse.move(0, 0)
    expect(await actions.evaluate((e) => getComputedStyle(e).opacity)).toBe('0')
    await reply.focus()
    expect(await actions.evaluate((e) => getComputedStyle(e).opacity)).toBe('1')
  })

  it('attaches files from the button, a drop and a paste, and shows a received image as a thumbnail', async () => {
    const image = [...sunsetPng(16)]
    // A file dropped onto the conversation, and another pasted into the message field.
    await a.evaluate((bytes) => {
      const transfer = (name: string) => {
        const data = new DataTransfer()
        data.items.add(new File([new Uint8Array(bytes)], name, { type: 'image/png' }))
        return data
      }
      const conversation = document.querySelector('.conversation') as HTMLElement
      conversation.dispatchEvent(
        new DragEvent('drop', { dataTransfer: transfer('dropped.png'), bubbles: true }),
      )
      const field = document.getElementById('message') as HTMLElement
      field.dispatchEvent(
        new ClipboardEvent('paste', { clipboardData: transfer('pasted.png'), bubbles: true }),
      )
    }, image)
    const chosen = a.getByRole('list', { name: 'Files to send' })
    await shows(chosen, 'dropped.png')
    await shows(chosen, 'pasted.png')
    await send(a, 'Photos of the route')
    for (const name of ['dropped.png', 'pasted.png']) {
      const thumbnail = messagesOf(b).getByRole('img', { name })
      await expect
        .poll(() => thumbnail.evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 10_000 })
        .toBe(16)
    }
    expect(await chosen.getByRole('listitem').count()).toBe(0)
  })

  it('orders the group list by last activity with a preview of the last message, the same after a reload', async () => {
    await createGroup(a, 'Dinner', bob)
    await b.getByRole('button', { name: 'Back to groups' }).click()
    await b.getByRole('button', { name: 'Accept invite to Dinner' }).click()
    await b.getByRole('heading', { name: 'Dinner' }).waitFor()
    await b.getByRole('button', { name: 'Back to groups' }).click()
    const order = () => b.locator('#groups .name').allInnerTexts()
    await expect.poll(order, { timeout: 10_000 }).toEqual(['Dinner', 'Trip'])
    await a.getByRole('button', { name: /^Trip/ }).click()
    await send(a, 'Last call for snacks')
    await expect.poll(order, { timeout: 10_000 }).toEqual(['Trip', 'Dinner'])
    await shows(b.locator('#groups .preview').first(), `${alice}: Last call for snacks`)
    await b.getByRole('button', { name: 'Trip 1 unread' }).waitFor()
    await b.reload()
    await shows(b.getByRole('status'), 'Connected')
    await expect.poll(order, { timeout: 10_000 }).toEqual(['Trip', 'Dinner'])
    await shows(b.locator('#groups .preview').first(), `${alice}: Last call for snacks`)
  })

  it('keeps the phone’s headers short, and passes axe on the list and the conversation at both widths', async () => {
    expect(await seriousAccessibilityProblems(b)).toEqual([])
    await b.getByRole('button', { name: /^Trip/ }).click()
    await b.getByRole('heading', { name: 'Trip' }).waitFor()
    const heights = await b.evaluate(() =>
      ['.bar', '.conversation-head'].map(
        (s) => document.querySelector(s)?.getBoundingClientRect().height ?? 0,
      ),
    )
    expect((heights[0] ?? 0) + (heights[1] ?? 0)).toBeLessThan(110)
    expect(await seriousAccessibilityProblems(b)).toEqual([])
    expect(await seriousAccessibilityProblems(a)).toEqual([])
  })

  it('leaves from the group menu only once confirmed, and the other person sees it', async () => {
    await b.getByLabel('Group menu of Trip').click()
    await b.getByRole('button', { name: 'Leave group' }).click()
    await b.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
    await b.getByRole('heading', { name: 'Trip' }).waitFor()
    await b.getByRole('button', { name: 'Leave group' }).click()
    await b.getByRole('dialog').getByRole('button', { name: 'Leave' }).click()
    await shows(messagesOf(a), `${bob} left`)
    await expect.poll(() => b.getByRole('button', { name: /^Trip/ }).count(), { timeout: 10_000 }).toBe(0)
    expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
  })

  it('reads history a page at a time: the latest 30 on opening, the earlier ones on request, in order', async () => {
    const dave = await participant(unique('carol'))
    await createGroup(a, 'Log', dave.sub)
    const invite = await waitFor(() => {
      const found = dave.invites.find((group) => group.name === 'Log')
      expect(found).toBeDefined()
      return found as NonNullable<typeof found>
    })
    const log = await dave.chat.join(invite.gid)
    const entries = Array.from({ length: 34 }, (_, i) => `entry ${i + 1}`)
    for (const entry of entries) await log.message(entry)
    await shows(messagesOf(a), 'entry 34')
    // Opened again after a reload: the latest page only, and the button for the rest.
    await a.reload()
    await shows(a.locator('#status'), 'Connected')
    await shows(messagesOf(a), 'entry 34')
    const bodies = () => messagesOf(a).locator('.message .body').allTextContents()
    expect(await bodies()).not.toContain('entry 1')
    await a.getByRole('button', { name: 'Load earlier messages' }).click()
    await expect.poll(bodies).toEqual(entries)
    expect(await a.getByRole('button', { name: 'Load earlier messages' }).isHidden()).toBe(true)
  })
})
