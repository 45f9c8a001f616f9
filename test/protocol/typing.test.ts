import { describe, expect, it } from 'vitest'
import { contextOf } from '../../lambdas/core/context.js'
import { Delivery } from '../../lambdas/core/delivery.js'
import type { EventSender } from '../../lambdas/core/ports.js'
import { Typing } from '../../lambdas/core/typing.js'
import { defaultChatSettings } from '../../lambdas/settings.js'
import { connector, joinedGroup } from '../support/clients.js'
import { groupItems, tableClient, unique } from '../support/huddle.js'

const connect = connector()
const window = defaultChatSettings.typingIntervalSeconds
const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000))

describe('typing', () => {
  it('reaches the other joined members only, and stores nothing', async () => {
    const [alice, bob, carol, dave] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
    )
    const [alicePhone] = await connect(alice.iss)
    const gid = await joinedGroup('Typing', alice, bob)
    await alice.ok('invite', { gid, name: 'Typing', members: [carol.iss] })
    const stored = await groupItems(gid)
    const { head } = await bob.ok('history', { gid })

    expect(await alice.ok('typing', { gid })).toMatchObject({ gid, sent: true, expiresIn: 2 * window })
    expect(await bob.nextEvent('chat.typing')).toEqual({
      type: 'chat.typing',
      gid,
      iss: alice.iss,
      expiresIn: 2 * window,
    })
    // The invitee who has not joined, the outsider and the typist's own devices get nothing.
    for (const client of [alice, alicePhone, carol, dave]) {
      await client.settle()
      expect(client.events('chat.typing'), client.iss).toEqual([])
    }
    // No seq, no log write, no trace in history or in a new connection's catch-up.
    expect(await groupItems(gid)).toEqual(stored)
    const [bobLater] = await connect(bob.iss)
    const sync = await bobLater.ok('sync')
    expect(sync.groups).toContainEqual(expect.objectContaining({ gid, head }))
    const history = await bobLater.ok('history', { gid, after: 0 })
    expect(history.head).toBe(head)
    expect((history.events as { type: string }[]).map((e) => e.type)).not.toContain('chat.typing')
  })

  it('is refused to invitees, outsiders, removed and banned members, and to malformed frames', async () => {
    const [alice, bob, carol, dave, erin] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
      unique('erin'),
    )
    const gid = await joinedGroup('Typing', alice, bob, erin)
    await alice.ok('invite', { gid, name: 'Typing', members: [carol.iss] })
    await alice.ok('remove', { gid, iss: bob.iss })
    await alice.ok('ban', { gid, iss: erin.iss })
    for (const client of [bob, carol, dave, erin]) {
      expect(await client.request('typing', { gid }), client.iss).toMatchObject({
        type: 'error',
        code: 'FORBIDDEN',
        message: `typing: only the joined members of ${gid} may show they are typing there`,
      })
    }
    expect(await alice.request('typing', { gid: unique('nowhere') })).toMatchObject({ code: 'NOT_FOUND' })
    for (const fields of [{}, { gid: 'has space' }, { gid: 42 }, { gid: 'g'.repeat(129) }]) {
      expect(await alice.request('typing', fields)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' })
    }
  })

  it('shares one typing per identity and group each window: a burst is answered, and posted once', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await joinedGroup('Typing', alice, bob)
    const other = await joinedGroup('Typing', alice, bob)

    const burst = await Promise.all(Array.from({ length: 5 }, () => alice.request('typing', { gid })))
    expect(burst.every((reply) => reply.type === 'ack')).toBe(true)
    expect(burst.filter((reply) => reply.sent === true)).toHaveLength(1)
    const held = burst.filter((reply) => reply.sent === false)
    expect(held).toHaveLength(4)
    for (const reply of held) {
      expect(reply.retryAfter).toBeGreaterThan(0)
      // Counted from each request's own clock: one that read it before the token was taken waits a little longer.
      expect(reply.retryAfter).toBeLessThan(window + 1)
    }
    // Another group has a window of its own.
    expect(await alice.ok('typing', { gid: other })).toMatchObject({ sent: true })
    await bob.settle()
    expect(bob.events('chat.typing', gid)).toHaveLength(1)

    // Once the window has passed, the next one is shared again.
    await sleep(Math.max(...held.map((reply) => Number(reply.retryAfter))) + 0.05)
    expect(await alice.ok('typing', { gid })).toMatchObject({ sent: true })
    await bob.nextEvent('chat.typing', () => bob.events('chat.typing', gid).length === 2)
  })

  it('is not shared in a group larger than typingMaxMembers: answered, and posted to nobody', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await joinedGroup('Typing', alice, bob)
    const posts: string[] = []
    const sender: EventSender = {
      send: async (connectionId) => {
        posts.push(connectionId)
        return 'sent'
      },
    }
    const { store } = tableClient()
    const typingOf = (typingMaxMembers: number) => {
      const settings = { ...defaultChatSettings, typingMaxMembers }
      const delivery = new Delivery({ store, sender, concurrency: 4, sliceSize: 100, newId: () => 'x' })
      return new Typing({ ...contextOf(store, settings), delivery })
    }
    const caller = { iss: alice.iss, connectionId: 'alice-elsewhere' }

    expect(await typingOf(1).typing(caller, { gid })).toEqual({ gid, sent: false, expiresIn: 2 * window })
    expect(posts).toEqual([])
    // Within the limit, the same group's other member is posted to, and the typist's own connection is not.
    expect(await typingOf(2).typing(caller, { gid })).toMatchObject({ sent: true })
    expect(posts).toHaveLength(1)
  })
})
