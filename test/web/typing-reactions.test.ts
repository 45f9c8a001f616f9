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
  uncaughtErrors,
} from '../support/web.js'

/**
 * alice and bob in one plain group: one types and the other sees it; both react to one message. Both at
 * desktop width, then both on phones.
 */
describe.each([
  ['desktop', desktop],
  ['phone', phone],
])(
  'typing and reactions in the web chat at %s width, seen from both sides, in Chromium',
  (widthName, width) => {
    let browser: Browser
    let a: Page
    let b: Page
    const [alice, bob] = [unique('alice'), unique('bob')]
    const chip = (page: Page, name: string) =>
      page.getByRole('list', { name: 'Reactions' }).getByRole('button', { name, exact: true })

    beforeAll(async () => {
      browser = await launchChromium()
      ;[a, b] = await Promise.all([openWebChat(browser, width), openWebChat(browser, width)])
    })
    afterAll(async () => {
      await browser?.close()
    })

    it('signs both in, to a group where alice has said something', async () => {
      await Promise.all([signIn(a, alice), signIn(b, bob)])
      await createGroup(a, 'Picnic', bob)
      await b.getByRole('button', { name: 'Accept invite to Picnic' }).click()
      await b.getByRole('heading', { name: 'Picnic' }).waitFor()
      await a.getByLabel('Message to Picnic').fill('Sandwiches?')
      await a.getByLabel('Message to Picnic').press('Enter')
      await shows(b.getByRole('list', { name: 'Messages' }), 'Sandwiches?')
    })

    it('shows “… is typing” while the other person types, and takes it away by itself', async () => {
      const typing = a.locator('.typing')
      expect(await typing.getAttribute('aria-live')).toBe('polite')
      await b.getByLabel('Message to Picnic').pressSequentially('Yes')
      await shows(typing, `${bob} is typing…`)
      // Above the composer, in view (the phone's one column included).
      const box = await typing.boundingBox()
      expect(box && box.y + box.height).toBeLessThanOrEqual(width.viewport?.height ?? 0)
      // bob sends nothing: his indicator expires on its own.
      await expect.poll(() => typing.textContent(), { timeout: 20_000 }).toBe('')
    })

    it('adds, counts, names and takes back reactions live, the same after a reload, with axe passing', async () => {
      // A tap on the message shows its actions (a phone has no hover), inside its bubble there.
      const sandwiches = a.locator('.message', { hasText: 'Sandwiches?' })
      await sandwiches.locator('.body').click()
      const react = a.getByRole('button', { name: 'React to You: Sandwiches?' })
      if (widthName === 'phone') {
        const [bubble, button] = await Promise.all([sandwiches.boundingBox(), react.boundingBox()])
        expect(button?.y).toBeGreaterThan(bubble?.y ?? Number.POSITIVE_INFINITY)
      }
      await react.click()
      await a
        .getByRole('group', { name: 'Pick a reaction' })
        .getByRole('button', { name: 'React with thumbs up' })
        .click()
      await shows(chip(b, `👍 by ${alice}`), '👍 1')
      // bob opens the picker from the keyboard: the conversation with chips and the picker passes axe.
      await b.getByRole('button', { name: `React to ${alice}: Sandwiches?` }).focus()
      await b.keyboard.press('Enter')
      const picker = b.getByRole('group', { name: 'Pick a reaction' })
      await picker.waitFor()
      expect(await seriousAccessibilityProblems(b)).toEqual([])
      await picker.getByRole('button', { name: 'React with thumbs up' }).click()
      expect(await picker.count()).toBe(0)
      await shows(chip(b, `👍 by ${alice} and you`), '👍 2')
      await shows(chip(a, `👍 by you and ${bob}`), '👍 2')
      // alice's own chip takes hers back.
      await chip(a, `👍 by you and ${bob}`).click()
      await shows(chip(a, `👍 by ${bob}`), '👍 1')
      await shows(chip(b, '👍 by you'), '👍 1')
      await b.reload()
      await shows(b.locator('#status'), 'Connected')
      await shows(chip(b, '👍 by you'), '👍 1')
      expect(await b.getByRole('list', { name: 'Reactions' }).getByRole('button').count()).toBe(1)
      expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
    })
  },
)
