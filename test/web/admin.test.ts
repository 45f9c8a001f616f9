import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
  sunsetPng,
  uncaughtErrors,
} from '../support/web.js'

/** alice (desktop) administers a group from its menu; bob (phone), a member, sees each change. */
describe("a group admin's menu in the web chat, in Chromium", () => {
  let browser: Browser
  let a: Page
  let b: Page
  const [alice, bob, carol] = [unique('alice'), unique('bob'), unique('carol')]
  const messagesOf = (page: Page) => page.getByRole('list', { name: 'Messages' })
  /** Presses `button` in alice's open menu, then `confirm` in the dialog it opens (with `field` typed). */
  const act = async (button: string, confirm?: string, field?: string) => {
    await a.getByRole('button', { name: button }).click()
    if (!confirm) return
    const dialog = a.getByRole('dialog')
    if (field !== undefined) await dialog.getByRole('textbox').fill(field)
    await dialog.getByRole('button', { name: confirm, exact: true }).click()
  }

  beforeAll(async () => {
    browser = await launchChromium()
    ;[a, b] = await Promise.all([openWebChat(browser, desktop), openWebChat(browser, phone)])
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('offers a member only Leave, and an admin the group settings, each seen by the member', async () => {
    await Promise.all([signIn(a, alice), signIn(b, bob)])
    await createGroup(a, 'Club', bob)
    await b.getByRole('button', { name: 'Accept invite to Club' }).click()
    await b.getByRole('heading', { name: 'Club' }).waitFor()
    await shows(messagesOf(a), `${bob} joined`)
    await b.getByLabel('Group menu of Club').click()
    await b.getByRole('button', { name: 'Leave group' }).waitFor()
    expect(await b.getByRole('button', { name: 'Rename group…' }).count()).toBe(0)
    await b.getByLabel('Group menu of Club').click()

    await a.getByLabel('Group menu of Club').click()
    expect(await seriousAccessibilityProblems(a)).toEqual([])
    await act('Rename group…', 'Rename', 'Book club')
    await b.getByRole('heading', { name: 'Book club' }).waitFor()
    await shows(messagesOf(b), `${alice} renamed the group “Book club”`)

    const chooser = a.waitForEvent('filechooser')
    await act('Change avatar…')
    await (await chooser).setFiles({ name: 'club.png', mimeType: 'image/png', buffer: sunsetPng(64) })
    await shows(messagesOf(b), `${alice} changed the picture`)
    const picture = b.locator('.conversation-head').getByRole('img', { name: 'Avatar of Book club' })
    await expect
      .poll(() => picture.evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 10_000 })
      .toBe(64)

    await act('Let only admins invite')
    await shows(messagesOf(b), `${alice} let only admins invite`)
    await act('Add members…', 'Invite', carol)
    await shows(a.locator('.conversation-head .members'), '2 members, 1 invited')
  })

  it('promotes and demotes a member, removes an invitee and bans a member, each destructive one confirmed', async () => {
    await act(`Make admin ${bob}`)
    await shows(messagesOf(b), `You became an admin by ${alice}`)
    await act(`Demote ${bob}`)
    await shows(messagesOf(b), `You are no longer an admin by ${alice}`)

    // Cancelled, nothing happens; confirmed, carol's invite is gone.
    await act(`Remove ${carol}`, 'Cancel')
    await act(`Remove ${carol}`, 'Remove')
    await shows(a.locator('.conversation-head .members'), /^2 members: /)
    expect(await a.locator('.conversation-head .members').textContent()).not.toContain('invited')

    await act(`Ban ${bob}`, 'Ban')
    await shows(messagesOf(a), `${bob} was banned by you`)
    await expect
      .poll(() => b.getByRole('heading', { name: 'Book club' }).count(), { timeout: 10_000 })
      .toBe(0)
    expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
  })
})
