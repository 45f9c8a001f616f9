import { limits } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { device, encryptedGroup, log, received } from '../support/encrypted.js'
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

  it('in an encrypted group, stores and posts a reaction as its cipher, and refuses one in clear, storing nothing', async () => {
    const [alice, bob] = await Promise.all([device(unique('alice')), device(unique('bob'))])
    const { gid, group } = await encryptedGroup(alice, bob)
    const { seq } = await group.message('sealed')
    const atBob = await received(bob, 'sealed')
    await atBob.react('👍')
    const events = await log(alice, gid)
    const reaction = events.find((e) => e.type === 'chat.reaction')
    expect(reaction).toMatchObject({ iss: bob.sub, target: seq, emoji: '', cipher: expect.any(String) })
    expect(reaction).not.toHaveProperty('remove')
    const cipher = String(reaction?.cipher)

    const before = await groupItems(gid)
    const refusals: [Record<string, unknown>, string, string][] = [
      [{ gid, target: seq, emoji: '👍' }, 'BAD_REQUEST', 'encrypted'],
      [{ gid, target: seq, cipher, remove: true }, 'BAD_REQUEST', 'encrypted'],
      [{ gid, target: seq, cipher, emoji: '👍' }, 'BAD_REQUEST', 'not both'],
      [{ gid, target: seq, cipher: 'A'.repeat(limits.reactionCipherChars + 4) }, 'BAD_REQUEST', 'cipher'],
      [{ gid, target: seq, cipher: 'AAAA' }, 'BAD_REQUEST', 'MLS application message'],
      // The group's first commit has a seq, but is no message.
      [{ gid, target: 1, cipher }, 'NOT_FOUND', 'no message'],
    ]
    for (const [fields, code, says] of refusals) {
      const reply = await bob.client.request('react', fields as never).catch((error: unknown) => error)
      expect(reply, JSON.stringify(fields).slice(0, 80)).toMatchObject({ code })
      expect(String((reply as Error).message)).toContain(says)
    }
    expect(await groupItems(gid)).toEqual(before)

    // A plain group takes no cipher.
    const plain = await reactingGroup()
    const reply = await plain.bob.request('react', { gid: plain.gid, target: plain.seq, cipher })
    expect(reply).toMatchObject({ code: 'BAD_REQUEST' })
    expect(String(reply.message)).toContain('not encrypted')
  })
})
