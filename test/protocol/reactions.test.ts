import { limits } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { groupItems, type TestClient, unique } from '../support/huddle.js'

const connect = connector()

/** A group of alice and bob (joined) and carol (invited), with one message of alice's at `seq`. */
async function reactingGroup() {
  const [alice, bob, carol, outsider] = await connect(
    unique('alice'),
    unique('bob'),
    unique('carol'),
    unique('eve'),
  )
  const gid = unique('react')
  await alice.ok('invite', { gid, name: 'Reacting', members: [bob.iss, carol.iss] })
  await bob.ok('join', { gid })
  const { seq, jti } = await alice.ok('message', { gid, body: 'hello' })
  return { alice, bob, carol, outsider, gid, seq: Number(seq), jti: String(jti) }
}

/** The reaction entries a message's item keeps. */
async function storedReactions(gid: string, seq: number): Promise<string[]> {
  const items = (await groupItems(gid)) as { type?: string; seq?: number; reactions?: Set<string> }[]
  const message = items.find((item) => item.type === 'chat.message' && item.seq === seq)
  return [...(message?.reactions ?? [])].sort()
}

describe('reactions', () => {
  it('stores a reaction in the log, posts it to the joined members and answers a repeat without storing', async () => {
    const { alice, bob, gid, seq } = await reactingGroup()

    const added = await bob.ok('react', { gid, target: seq, emoji: '👍' })
    expect(added).toMatchObject({
      gid,
      target: seq,
      emoji: '👍',
      remove: false,
      seq: seq + 1,
      duplicate: false,
    })
    const event = await alice.nextEvent('chat.reaction', (e) => e.gid === gid)
    expect(event).toMatchObject({ iss: bob.iss, target: seq, emoji: '👍', seq: seq + 1 })
    expect(event).not.toHaveProperty('remove')
    // A family of several code points is one emoji.
    await alice.ok('react', { gid, target: seq, emoji: '👩‍👩‍👧‍👦' })

    const before = await groupItems(gid)
    expect(await bob.ok('react', { gid, target: seq, emoji: '👍' })).toMatchObject({ duplicate: true })
    expect(await bob.ok('react', { gid, target: seq, emoji: '🎉', remove: true })).toMatchObject({
      duplicate: true,
      remove: true,
    })
    expect(await groupItems(gid)).toEqual(before)

    const removed = await bob.ok('react', { gid, target: seq, emoji: '👍', remove: true })
    expect(removed).toMatchObject({ remove: true, seq: seq + 3, duplicate: false })
    expect(await bob.ok('react', { gid, target: seq, emoji: '👍', remove: true })).toMatchObject({
      duplicate: true,
    })
    expect(await storedReactions(gid, seq)).toEqual([`👩‍👩‍👧‍👦 ${alice.iss}`])

    // History carries the reactions as log events; the message itself shows none of the stored set.
    const { events } = await bob.ok('history', { gid, after: seq - 1 })
    const shown = events as Record<string, unknown>[]
    expect(shown.map((e) => [e.type, e.emoji, e.remove ?? false])).toEqual([
      ['chat.message', undefined, false],
      ['chat.reaction', '👍', false],
      ['chat.reaction', '👩‍👩‍👧‍👦', false],
      ['chat.reaction', '👍', true],
    ])
    expect(shown[0]).not.toHaveProperty('reactions')
  })

  it('refuses invitees, outsiders and removed members, and messages that are missing, deleted or no message', async () => {
    const { alice, bob, carol, outsider, gid, seq, jti: first } = await reactingGroup()
    const { seq: editSeq } = await alice.ok('edit', { gid, jti: first, body: 'hi' })
    const { seq: goneSeq, jti } = await alice.ok('message', { gid, body: 'soon gone' })
    await alice.ok('delete', { gid, jti })
    const before = await groupItems(gid)

    const refusals: [TestClient, Record<string, unknown>, string][] = [
      [carol, { gid, target: seq, emoji: '👍' }, 'FORBIDDEN'],
      [outsider, { gid, target: seq, emoji: '👍' }, 'FORBIDDEN'],
      [bob, { gid, target: 999, emoji: '👍' }, 'NOT_FOUND'],
      [bob, { gid, target: Number(goneSeq), emoji: '👍' }, 'NOT_FOUND'],
      // An edit (or a join) has a seq but is no message.
      [bob, { gid, target: Number(editSeq), emoji: '👍' }, 'NOT_FOUND'],
      [bob, { gid, target: 1, emoji: '👍' }, 'NOT_FOUND'],
      // A seq of another group that is a message there.
      [bob, { gid: unique('elsewhere'), target: seq, emoji: '👍' }, 'NOT_FOUND'],
      [bob, { gid, target: seq, emoji: 'x'.repeat(limits.emojiBytes + 1) }, 'BAD_REQUEST'],
      [bob, { gid, target: seq, emoji: '👍 👍' }, 'BAD_REQUEST'],
      [bob, { gid, target: seq, emoji: '' }, 'BAD_REQUEST'],
      [bob, { gid, target: 0, emoji: '👍' }, 'BAD_REQUEST'],
      [bob, { gid, target: '2', emoji: '👍' }, 'BAD_REQUEST'],
      [bob, { gid, target: seq, emoji: '👍', remove: 'yes' }, 'BAD_REQUEST'],
    ]
    for (const [who, fields, code] of refusals) {
      const reply = await who.request('react', fields)
      expect(reply, JSON.stringify(fields)).toMatchObject({ type: 'error', code })
      expect(String(reply.message)).toMatch(/react|emoji|target|remove/)
    }
    expect(await groupItems(gid)).toEqual(before)

    await alice.ok('remove', { gid, iss: bob.iss })
    expect(await bob.request('react', { gid, target: seq, emoji: '👍' })).toMatchObject({ code: 'FORBIDDEN' })
  })

  it('limits the different emoji on one message', async () => {
    const { alice, bob, gid, seq } = await reactingGroup()
    const emoji = Array.from({ length: limits.emojiPerMessage }, (_, i) => String.fromCodePoint(0x1f600 + i))
    // Two members share the work, each within its rate limit.
    for (const [i, e] of emoji.entries())
      await (i % 2 ? bob : alice).ok('react', { gid, target: seq, emoji: e })
    const refused = await bob.request('react', { gid, target: seq, emoji: '🚀' })
    expect(refused).toMatchObject({ code: 'CONFLICT' })
    expect(String(refused.message)).toContain('react with one of them')
    // Another member's emoji already there is still open to all.
    await bob.ok('react', { gid, target: seq, emoji: emoji[0] })
    // Taken back by everyone who used it, an emoji makes room.
    await alice.ok('react', { gid, target: seq, emoji: emoji[0], remove: true })
    await bob.ok('react', { gid, target: seq, emoji: emoji[0], remove: true })
    await alice.ok('react', { gid, target: seq, emoji: '🚀' })
  })

  it('refuses reactions in an encrypted group, storing nothing', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('sealed')
    await alice.ok('invite', { gid, name: 'Sealed', members: [bob.iss], encrypted: true })
    const before = await groupItems(gid)
    const reply = await alice.request('react', { gid, target: 1, emoji: '👍' })
    expect(reply).toMatchObject({ code: 'BAD_REQUEST' })
    expect(String(reply.message)).toContain('encrypted')
    expect(await groupItems(gid)).toEqual(before)
  })
})
