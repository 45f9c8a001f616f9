import { readFile } from 'node:fs/promises'
import { ScanCommand } from '@aws-sdk/lib-dynamodb'
import { ChatClient, type ChatMessage, memoryEncryptionStore } from '@huddle/client'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDevConnection } from '../../local/dev-tokens.js'
import { httpUrl, tableClient, tokenFor, unique, wsUrl } from '../support/huddle.js'
import { participant, waitFor } from '../support/sdk.js'
import {
  desktop,
  launchChromium,
  openWebChat,
  phone,
  setIdTokenLifetime,
  shows,
  signIn,
  sunsetPng,
  uncaughtErrors,
} from '../support/web.js'

// HUDDLE_WEB_SCREENSHOT=docs/web-chat.png saves the first test's conversation there, with a reaction, ticks
// and "… is typing", and beside it web-chat-phone.png (the other side, on a phone) and web-chat-admin.png
// (the group menu); run this file alone: the people are then plainly alice and bob.
const screenshot = process.env.HUDDLE_WEB_SCREENSHOT
const person = (name: string) => (screenshot ? name : unique(name))

describe('the web chat, in Chromium', () => {
  let browser: Browser
  const pages: Page[] = []
  const open = async (options = desktop) => {
    const page = await openWebChat(browser, options)
    pages.push(page)
    return page
  }

  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('is served at the root with its types, and a policy that lets it reach only itself, the bucket and the sign-in provider', async () => {
    const page = await fetch(httpUrl())
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await page.text()).toContain('<script type="module" src="/app.js"></script>')
    const policy = page.headers.get('content-security-policy') ?? ''
    expect(policy).toContain("default-src 'none'")
    // The provider's issuer names 127.0.0.1, which a page opened at localhost reaches across origins.
    const provider = new URL(httpUrl()).origin.replaceAll('.', '\\.')
    expect(policy).toMatch(new RegExp(`connect-src 'self' http://127\\.0\\.0\\.1:\\d+ ${provider};`))
    expect(policy).toMatch(/img-src 'self' http:\/\/127\.0\.0\.1:\d+ blob: data:;/)
    const script = await fetch(`${httpUrl()}/app.js`)
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await script.text()).toMatch(/\/\/# sourceMappingURL=app\.js\.map\s*$/)
    expect((await fetch(`${httpUrl()}/app.js.map`)).status).toBe(200)
    expect((await fetch(`${httpUrl()}/styles.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    )

    // What the app asks when its socket is refused: a browser cannot see the handshake's 401.
    const check = (token: string) =>
      fetch(`${httpUrl()}/dev/check-token`, { method: 'POST', body: JSON.stringify({ token }) }).then((r) =>
        r.json(),
      )
    const sub = unique('frank')
    expect(await check(await tokenFor(sub))).toEqual({ accepted: true, sub })
    expect(await check(await tokenFor(sub, -5))).toEqual({
      accepted: false,
      reason: expect.stringMatching(/^the token expired \d+ s ago$/),
    })
  })

  it('lets two people create a group with an avatar, join, and exchange messages and a reply', async () => {
    const [alice, bob] = [person('alice'), person('bob')]
    const [a, b] = await Promise.all([open(desktop), open(phone)])
    await Promise.all([signIn(a, alice), signIn(b, bob)])

    // alice creates the group, with an avatar picked from a file.
    await a.getByText('New group', { exact: true }).click()
    await a.getByLabel('Group name').fill('Weekend plans')
    await a.getByLabel('Members').fill(bob)
    await a.getByLabel('Avatar (optional)').setInputFiles({
      name: 'avatar.png',
      mimeType: 'image/png',
      buffer: sunsetPng(64),
    })
    await a.getByRole('img', { name: 'Preview of the chosen avatar' }).waitFor()
    await a.getByRole('button', { name: 'Create group' }).click()
    await a.getByRole('heading', { name: 'Weekend plans' }).waitFor()
    await expect.poll(() => naturalWidth(a, 'Avatar of Weekend plans')).toBe(64)

    // bob sees the invite with its avatar, and accepts it.
    const invite = b.getByRole('listitem', { name: 'Invite to Weekend plans' })
    await shows(invite, `Invited by ${alice}`)
    await expect.poll(() => naturalWidth(b, 'Avatar of Weekend plans')).toBe(64)
    await b.getByRole('button', { name: 'Accept invite to Weekend plans' }).click()
    await b.getByRole('heading', { name: 'Weekend plans' }).waitFor()
    await shows(a.getByRole('list', { name: 'Messages' }), `${bob} joined`)

    // A message, and bob's reply to it, which alice sees as a reply.
    await a.getByLabel('Message to Weekend plans').fill('Hiking on Saturday?')
    await a.getByLabel('Message to Weekend plans').press('Enter')
    await shows(b.getByRole('list', { name: 'Messages' }), 'Hiking on Saturday?')
    // On the phone, a tap on the message shows its actions.
    await b.locator('.message .body', { hasText: 'Hiking on Saturday?' }).click()
    await b.getByRole('button', { name: `Reply to ${alice}: Hiking on Saturday?` }).click()
    await shows(b.getByRole('form').or(b.locator('.replying-bar')), 'Replying to')
    await b.getByLabel('Message to Weekend plans').fill('Yes! I will bring the map.')
    await b.getByRole('button', { name: 'Send' }).click()
    const reply = a
      .getByRole('list', { name: 'Messages' })
      .getByRole('listitem')
      .filter({ hasText: 'I will bring the map.' })
    await shows(reply, `${bob}`)
    await shows(reply, 'In reply to you: “Hiking on Saturday?”')

    // On the phone, bob goes back to the list: a new message shows as unread there.
    await b.getByRole('button', { name: 'Back to groups' }).click()
    await a.getByLabel('Message to Weekend plans').fill('Great, see you at 9.')
    await a.getByRole('button', { name: 'Send' }).click()
    await b.getByRole('button', { name: 'Weekend plans 1 unread' }).click()
    await shows(b.getByRole('list', { name: 'Messages' }), 'Great, see you at 9.')

    if (screenshot) await takeScreenshots(a, b, screenshot)
    expect([...uncaughtErrors(a), ...uncaughtErrors(b)]).toEqual([])
  })

  it('shows a dropped connection as reconnecting, then catches up on what was said meanwhile', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const aliceClient = await ChatClient.connect(wsUrl(), { token: () => tokenFor(alice) })
    try {
      const b = await open(phone)
      await setIdTokenLifetime(bob, 10)
      await signIn(b, bob)
      const group = await aliceClient.chat().invite(unique('night'), 'Night shift', [bob])
      await b.getByRole('button', { name: 'Accept invite to Night shift' }).click()
      await shows(b.getByRole('list', { name: 'Messages' }), 'You joined')

      // The server closes the socket (as API Gateway does after 10 minutes idle, or on a deploy), and bob's
      // sign-in cannot be renewed meanwhile (his ID tokens live 10 s, so each connect renews one, and the
      // provider cannot be reached): the app says it is reconnecting, and why.
      await b.route('**/oidc/token', (route) => route.abort('internetdisconnected'))
      const listed = await fetch(`${httpUrl()}/dev/connections?sub=${bob}`)
      const { connectionIds } = (await listed.json()) as { connectionIds: string[] }
      expect(connectionIds).toHaveLength(1)
      for (const id of connectionIds) expect(await closeDevConnection(httpUrl(), id)).toBe(204)
      await shows(b.getByRole('status'), 'Reconnecting…')
      await shows(b.getByRole('alert'), 'Could not renew your sign-in: Cannot reach the sign-in provider')

      await group.message('Sent while you were away')
      await b.unroute('**/oidc/token')
      await shows(b.getByRole('status'), 'Connected')
      await shows(b.getByRole('list', { name: 'Messages' }), 'Sent while you were away')
      expect(uncaughtErrors(b)).toEqual([])
    } finally {
      await aliceClient.close()
    }
  })

  it('declines an invite: it leaves the list, and the inviter sees the leave', async () => {
    const [alice, dave] = [unique('alice'), unique('dave')]
    const aliceClient = await ChatClient.connect(wsUrl(), { token: () => tokenFor(alice) })
    try {
      const gid = unique('unwanted')
      const declined = new Promise((resolve) =>
        aliceClient.chat().onLeave((iss, g) => g === gid && resolve(iss)),
      )
      const page = await open(phone)
      await signIn(page, dave)
      await aliceClient.chat().invite(gid, 'Unwanted', [dave])
      await page.getByRole('button', { name: 'Decline invite to Unwanted' }).click()
      expect(await declined).toBe(dave)
      await expect.poll(() => page.getByRole('listitem', { name: 'Invite to Unwanted' }).count()).toBe(0)
      expect(uncaughtErrors(page)).toEqual([])
    } finally {
      await aliceClient.close()
    }
  })

  it('shows an admin renaming the group, and closes it when its reader is banned', async () => {
    const [alice, dave] = [unique('alice'), unique('dave')]
    const aliceClient = await ChatClient.connect(wsUrl(), { token: () => tokenFor(alice) })
    try {
      const page = await open(desktop)
      await signIn(page, dave)
      const group = await aliceClient.chat().invite(unique('moderated'), 'Moderated', [dave])
      await page.getByRole('button', { name: 'Accept invite to Moderated' }).click()
      await page.getByRole('heading', { name: 'Moderated' }).waitFor()
      await group.update({ name: 'Renamed' })
      await shows(page.getByRole('list', { name: 'Messages' }), `${alice} renamed the group “Renamed”`)
      await page.getByRole('button', { name: 'Renamed' }).waitFor()
      await group.ban(dave)
      await expect.poll(() => page.getByRole('button', { name: 'Renamed' }).count()).toBe(0)
      expect(await page.getByRole('heading', { name: 'Moderated' }).count()).toBe(0)
      expect(uncaughtErrors(page)).toEqual([])
    } finally {
      await aliceClient.close()
    }
  })

  it('sends a file, and downloads and decrypts a received one', async () => {
    const [alice, dave] = [unique('alice'), unique('dave')]
    const aliceClient = await ChatClient.connect(wsUrl(), { token: () => tokenFor(alice) })
    try {
      const page = await open(desktop)
      await signIn(page, dave)
      const group = await aliceClient.chat().invite(unique('shared'), 'Shared', [dave])
      await page.getByRole('button', { name: 'Accept invite to Shared' }).click()
      await page.getByRole('heading', { name: 'Shared' }).waitFor()

      const minutes = Buffer.from('the minutes\n'.repeat(500))
      await group.message('the minutes', {
        attachments: [{ name: 'minutes.txt', mime: 'text/plain', data: minutes }],
      })
      const downloading = page.waitForEvent('download')
      await page.getByRole('button', { name: 'Download minutes.txt' }).click()
      const download = await downloading
      expect(download.suggestedFilename()).toBe('minutes.txt')
      expect(await readFile(String(await download.path()))).toEqual(minutes)

      const received = new Promise<ChatMessage>((resolve) => aliceClient.chat().onMessage(resolve))
      const photo = sunsetPng(16)
      const chooser = page.waitForEvent('filechooser')
      await page.getByRole('button', { name: 'Attach files' }).click()
      await (await chooser).setFiles({ name: 'photo.png', mimeType: 'image/png', buffer: photo })
      await page.getByLabel('Message to Shared').fill('a photo')
      await page.getByLabel('Message to Shared').press('Enter')
      const message = await received
      expect(message.attachments.map((a) => [a.name, a.mime])).toEqual([['photo.png', 'image/png']])
      const [file] = message.attachments
      expect(Buffer.from((await file?.download()) ?? [])).toEqual(photo)
      await shows(page.getByRole('list', { name: 'Messages' }), 'photo.png')
      expect(uncaughtErrors(page)).toEqual([])
    } finally {
      await aliceClient.close()
    }
  })

  it('creates an end-to-end encrypted group: MLS runs in a worker, and the server keeps only ciphertext', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const page = await open(desktop)
    const fetched: string[] = []
    page.on('request', (request) => fetched.push(new URL(request.url()).pathname))
    // bob is a Node SDK device (ts-mls from the package's Node entry); his first catch-up publishes his key
    // packages, so alice's page can add him to the keys.
    const [bobs] = await Promise.all([
      participant(bob, { encryption: { store: memoryEncryptionStore() } }).then(async (device) => {
        await device.chat.catchUp()
        return device
      }),
      signIn(page, alice),
    ])

    await page.getByText('New group', { exact: true }).click()
    await page.getByLabel('Group name').fill('Sealed plans')
    await page.getByLabel('Members').fill(bob)
    await page.getByLabel('End-to-end encrypted').check()
    await page.getByRole('button', { name: 'Create group' }).click()
    await page.getByRole('heading', { name: 'Sealed plans' }).waitFor()
    // Said in the conversation's header and in the group list, with what it means on hover.
    const tag = page.locator('.conversation-head .tag')
    await shows(tag, 'Encrypted')
    expect(await tag.getAttribute('title')).toMatch(/^End-to-end encrypted/)
    await page.getByRole('button', { name: 'Sealed plans encrypted' }).waitFor()

    const invite = await waitFor(() => {
      const found = bobs.invites.find((group) => group.name === 'Sealed plans')
      expect(found?.encrypted).toBe(true)
      return found as NonNullable<typeof found>
    })
    const group = await bobs.chat.join(invite.gid)
    await shows(page.getByRole('list', { name: 'Messages' }), `${bob} joined`)

    // Sent once alice's page added bob's device to the keys (a commit with a Welcome).
    const fromBob = `the key is under the mat ${unique('b')}`
    const { jti } = await group.message(fromBob)
    await shows(page.getByRole('list', { name: 'Messages' }), fromBob)

    const fromAlice = `see you at the lighthouse ${unique('a')}`
    await page.getByLabel('Message to Sealed plans').fill(fromAlice)
    await page.getByLabel('Message to Sealed plans').press('Enter')
    const received = await waitFor(() => {
      const message = bobs.messages.find((m) => m.body === fromAlice)
      expect(message).toBeDefined()
      return message as ChatMessage
    })
    expect([received.iss, received.unreadable]).toEqual([alice, false])
    await shows(page.locator('.message.mine'), fromAlice)

    // Opened again, the conversation reads its history: MLS opens a ciphertext once, so the SDK shows what
    // the device kept when it sent or first opened each message. One it kept nothing of (here: its entry
    // taken out of the page's IndexedDB) says it cannot be read.
    await page.evaluate(
      ([database, name]) =>
        new Promise((resolve, reject) => {
          const opening = indexedDB.open(database as string)
          opening.onsuccess = () => {
            const transaction = opening.result.transaction('state', 'readwrite')
            transaction.objectStore('state').delete(name as string)
            transaction.oncomplete = () => resolve(opening.result.close())
            transaction.onerror = () => reject(transaction.error)
          }
        }),
      [`huddle-encryption.${alice}`, `message/${invite.gid}/${jti}`],
    )
    await page.getByRole('button', { name: 'Sealed plans encrypted' }).click()
    const lines = page.getByRole('list', { name: 'Messages' })
    await shows(lines, fromAlice)
    await shows(lines.locator('.message:not(.mine)'), '(encrypted message this device cannot read)')
    expect(await lines.textContent()).not.toContain(fromBob)

    // ts-mls ran in the worker the page started: the page's own bundle has none of it.
    expect(fetched).toContain('/mls-worker.js')
    const [app, worker] = await Promise.all(
      ['app.js', 'mls-worker.js'].map(async (name) => (await fetch(`${httpUrl()}/${name}`)).text()),
    )
    expect(worker).toContain('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519')
    expect(app).not.toContain('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519')
    // The table holds ciphertext only.
    const { db, tableName } = tableClient()
    const items = JSON.stringify((await db.send(new ScanCommand({ TableName: tableName }))).Items)
    expect(items).toContain(invite.gid)
    for (const plain of [fromAlice, fromBob]) expect(items).not.toContain(plain)
    expect(await page.locator('#encryption-problem').textContent()).toBe('')

    // One worker per session: signing out ends it; signing in again starts another, over the same state.
    expect(page.workers()).toHaveLength(1)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await expect.poll(() => page.workers().length).toBe(0)
    await signIn(page, alice)
    await page.getByRole('button', { name: 'Sealed plans encrypted' }).click()
    await shows(page.getByRole('list', { name: 'Messages' }), fromAlice)
    expect(page.workers()).toHaveLength(1)

    // A second tab of the same browser and identity leaves the keys to the first (one MLS device, one state).
    const second = await page.context().newPage()
    await second.goto(httpUrl())
    await signIn(second, alice)
    await shows(second.locator('#encryption-problem'), 'Another tab of this browser holds')
    await second.close()
    expect(uncaughtErrors(page)).toEqual([])
  })

  it('says so when the avatar upload is blocked, and creates no group', async () => {
    const page = await open(desktop)
    await signIn(page, unique('dave'))
    // As a browser blocks a request its CORS rule or the network does not let through.
    await page.route('**/huddle-avatars/uploads/**', (route) => route.abort('blockedbyclient'))
    await page.getByText('New group', { exact: true }).click()
    await page.getByLabel('Group name').fill('Blocked')
    await page.getByLabel('Members').fill(unique('erin'))
    await page.getByLabel('Avatar (optional)').setInputFiles({
      name: 'avatar.png',
      mimeType: 'image/png',
      buffer: sunsetPng(8),
    })
    await page.getByRole('button', { name: 'Create group' }).click()
    await shows(page.getByRole('alert'), 'Could not create the group: the avatar could not be uploaded')
    expect(await page.getByRole('button', { name: 'Blocked' }).count()).toBe(0)
    expect(uncaughtErrors(page)).toEqual([])
  })

  it('says why a token is refused: an expired one, and one that is not a JWT', async () => {
    const name = unique('carol')
    const page = await open(desktop)
    // A token the local stack signed, which expired a minute ago.
    await page.getByText('Sign in with a token instead').click()
    await page.getByLabel('Token (JWT)').fill(await tokenFor(name, -60))
    await page.getByRole('button', { name: 'Sign in with this token' }).click()
    await shows(page.getByRole('alert'), /The server refused your token: the token expired \d+ s ago/)
    await shows(page.getByRole('status'), 'Not connected')

    await page.getByLabel('Token (JWT)').fill('not-a-token')
    await page.getByRole('button', { name: 'Sign in with this token' }).click()
    await shows(page.getByRole('alert'), 'The server refused your token: the token is not a JWT')
    expect(uncaughtErrors(page)).toEqual([])
  })
})

/**
 * The README's pictures of a conversation between alice (`a`, desktop) and bob (`b`, phone): bob reacts and
 * starts typing while alice watches, then each side is saved, and alice's group menu.
 */
async function takeScreenshots(a: Page, b: Page, path: string): Promise<void> {
  await b.locator('.message .body', { hasText: 'Hiking on Saturday?' }).click()
  await b.getByRole('button', { name: /^React to .*Hiking on Saturday\?/ }).click()
  // The heart: Debian's Chromium draws it without an emoji font.
  await b.getByRole('button', { name: 'React with heart' }).click()
  await shows(a.getByRole('list', { name: 'Reactions' }), '❤️ 1')
  await expect.poll(() => a.locator('.message.mine .ticks').last().getAttribute('aria-label')).toBe('Read')
  // Typed slowly: the SDK sends one typing request every few seconds, and bob typed his reply just now.
  const typed = b
    .getByLabel('Message to Weekend plans')
    .pressSequentially('Should I bring snacks too?', { delay: 250 })
  await shows(a.locator('.typing'), 'is typing', 15_000)
  await Promise.all([a.screenshot({ path }), b.screenshot({ path: path.replace(/\.png$/, '-phone.png') })])
  await typed
  await a.getByLabel('Group menu of Weekend plans').click()
  await a.screenshot({ path: path.replace(/\.png$/, '-admin.png') })
  await a.getByLabel('Group menu of Weekend plans').click()
}

/** The width the browser decoded an avatar at: 0 until its image has loaded (or when it cannot). */
function naturalWidth(page: Page, name: string): Promise<number> {
  return page
    .getByRole('img', { name })
    .first()
    .evaluate((image) => (image as HTMLImageElement).naturalWidth)
}
