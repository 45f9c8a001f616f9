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
    await a.getByRole('heading', { name: 'Book club' }).waitFor()
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
    await shows(b.locator('#groups-notice'), `You were banned from Book club by ${alice}.`)
  })

  it('unbans from the menu (confirmed), so that the member can be invited and join again', async () => {
    await shows(a.getByRole('list', { name: 'Banned' }), `${bob} (banned)`)
    await act(`Unban ${bob}`, 'Cancel')
    expect(await a.getByRole('list', { name: 'Banned' }).count()).toBe(1)
    await act(`Unban ${bob}`, 'Unban')
    await shows(messagesOf(a), `${bob} was unbanned by you`)
    await expect.poll(() => a.getByRole('list', { name: 'Banned' }).count()).toBe(0)
    await act('Add members…', 'Invite', bob)
    await b.getByRole('button', { name: 'Accept invite to Book club' }).click()
    await b.getByRole('heading', { name: 'Book club' }).waitFor()
    await shows(messagesOf(a), `${bob} joined`)
    // Opening a group clears the notice about the one that went.
    expect(await b.locator('#groups-notice').isHidden()).toBe(true)
  })

  it('deletes the group for everyone once confirmed: both lose it, and the member is told who deleted it', async () => {
    // A member is offered no delete.
    await b.getByLabel('Group menu of Book club').click()
    expect(await b.getByRole('button', { name: 'Delete group…' }).count()).toBe(0)
    await b.getByLabel('Group menu of Book club').click()
    await act('Delete group…', 'Cancel')
    await a.getByRole('heading', { name: 'Book club' }).waitFor()
    await act('Delete group…', 'Delete group')
    await shows(a.locator('#groups-notice'), 'You deleted Book club.')
    expect(await a.getByRole('heading', { name: 'Book club' }).count()).toBe(0)
    await shows(
      b.locator('#groups-notice'),
      `${alice} deleted Book club: its messages are gone for everyone.`,
    )
    expect(await b.getByRole('heading', { name: 'Book club' }).count()).toBe(0)
    for (const page of [a, b]) {
      expect(
        await page
          .locator('#groups')
          .getByRole('button', { name: /Book club/ })
          .count(),
      ).toBe(0)
      expect(await seriousAccessibilityProblems(page)).toEqual([])
    }
    expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
  })
})
