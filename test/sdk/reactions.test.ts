import { ChatError, type ChatMessage, type ReactionEvent, type ReactionSummary } from '@huddle/client'
import { limits } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { ReactionBook } from '../../packages/client/src/reactions.js'
import { approved, device, encryptedGroup, keysSettled, received } from '../support/encrypted.js'
import { groupItems, unique } from '../support/huddle.js'
import { participant, roaming, waitFor } from '../support/sdk.js'

/** Reactions as a line each: emoji, count, mine, who. */
const shown = (reactions: ReactionSummary[]) =>
  reactions.map(({ emoji, count, mine, by }) => `${emoji} ${count} ${mine ? 'mine' : '-'} ${by.join(',')}`)

describe('reactions through the SDK', () => {
  it('folds reactions onto messages live, after a member was away, and in history', async () => {
    const [alice, bob] = await Promise.all([participant(unique('alice')), participant(unique('bob'))])
    const carol = await roaming('carol')
    const handed: { who: string; event: ReactionEvent; reactions: string[] }[] = []
    for (const p of [alice, bob, carol.who]) {
      p.chat.onReaction((event, reactions) => {
        handed.push({ who: p.sub, event, reactions: shown(reactions) })
      })
    }
    const gid = unique('reacting')
    const group = await alice.chat.invite(gid, 'Reacting', [bob.sub, carol.who.sub])
    const bobs = await bob.chat.join(gid)
    await carol.who.chat.join(gid)
    await group.message('lunch?')
    await waitFor(() => expect(bob.messages.map((m) => m.body)).toEqual(['lunch?']))
    await waitFor(() => expect(carol.who.messages.map((m) => m.body)).toEqual(['lunch?']))
    const [atBob] = bob.messages as [ChatMessage]
    const [atCarol] = carol.who.messages as [ChatMessage]

    // Live: bob's own reaction shows at once as his; the others are handed it.
    expect(await atBob.react('👍')).toMatchObject({ duplicate: false })
    expect(shown(atBob.reactions)).toEqual([`👍 1 mine ${bob.sub}`])
    expect(await atBob.react('👍')).toMatchObject({ duplicate: true })
    await waitFor(() => expect(shown(atCarol.reactions)).toEqual([`👍 1 - ${bob.sub}`]))
    expect(handed.filter((h) => h.who === carol.who.sub).map((h) => h.reactions)).toEqual([
      [`👍 1 - ${bob.sub}`],
    ])
    // This client's own reaction is not handed back to it.
    expect(handed.filter((h) => h.who === bob.sub)).toEqual([])

    // Away: carol misses a reaction added and one taken back, and gets both on catch-up.
    await carol.goOffline()
    await group.react(atBob.seq, '🎉')
    await bobs.unreact(atBob.seq, '👍')
    expect(await bobs.unreact(atBob.seq, '👍')).toMatchObject({ duplicate: true })
    await group.react(atBob.seq, '👍')
    carol.goOnline()
    await waitFor(() =>
      expect(shown(atCarol.reactions)).toEqual([`🎉 1 - ${alice.sub}`, `👍 1 - ${alice.sub}`]),
    )
    expect(handed.filter((h) => h.who === carol.who.sub).map((h) => h.event.emoji)).toEqual([
      '👍',
      '🎉',
      '👍',
      '👍',
    ])
    expect(shown(atBob.reactions)).toEqual([`🎉 1 - ${alice.sub}`, `👍 1 - ${alice.sub}`])

    // History: a device that never saw them folds the reactions, newer pages before the message's own.
    const late = await participant(bob.sub)
    const lateGroup = await late.chat.join(gid)
    const newest = await lateGroup.history({ limit: 2 })
    const older = await lateGroup.history({ before: newest.next ?? 0 })
    const message = older.events.find((e): e is ChatMessage => e.type === 'chat.message')
    expect(message?.body).toBe('lunch?')
    expect(shown(message?.reactions ?? [])).toEqual([`🎉 1 - ${alice.sub}`, `👍 1 - ${alice.sub}`])
    expect(await message?.react('🎉')).toMatchObject({ duplicate: false })
    expect(shown(message?.reactions ?? [])).toEqual([
      `🎉 2 mine ${alice.sub},${bob.sub}`,
      `👍 1 - ${alice.sub}`,
    ])
  })

  it('shows a reaction made on another device of the same identity, live, each time it changes', async () => {
    const [alice, bob] = await Promise.all([participant(unique('alice')), participant(unique('bob'))])
    const bobToo = await participant(bob.sub)
    const handed: Record<string, string[][]> = { [bob.sub]: [], too: [] }
    bob.chat.onReaction((_, reactions) => handed[bob.sub]?.push(shown(reactions)))
    bobToo.chat.onReaction((_, reactions) => handed.too?.push(shown(reactions)))
    const gid = unique('devices')
    const group = await alice.chat.invite(gid, 'Devices', [bob.sub])
    const bobs = await bob.chat.join(gid)
    await group.message('two screens')
    const [atBobToo] = await waitFor(() => {
      expect(bobToo.messages).toHaveLength(1)
      return bobToo.messages as [ChatMessage]
    })
    // One device's own reaction is folded once, not handed back to it; the other is handed it, as its own.
    expect(await atBobToo.react('👍')).toMatchObject({ duplicate: false })
    expect(shown(atBobToo.reactions)).toEqual([`👍 1 mine ${bob.sub}`])
    await waitFor(() => expect(handed[bob.sub]).toEqual([[`👍 1 mine ${bob.sub}`]]))
    // Taken back and made again on the other device, within a minute: each change comes through.
    await bobs.unreact(atBobToo.seq, '👍')
    await bobs.react(atBobToo.seq, '👍')
    await waitFor(() => expect(handed.too).toEqual([[], [`👍 1 mine ${bob.sub}`]]))
    expect(shown(atBobToo.reactions)).toEqual([`👍 1 mine ${bob.sub}`])
    expect(handed[bob.sub]).toHaveLength(1)
  })

  // Its group's keys take several commits, each verified by the server and every device: on a busy host, a while.
  it('seals reactions in an encrypted group: members and the reactor’s other device see them live, after catch-up and in history; the server only ciphertext', {
    timeout: 120_000,
  }, async () => {
    const [alice, bob, carol] = await Promise.all([
      device(unique('alice')),
      device(unique('bob')),
      device(unique('carol')),
    ])
    const bobPhone = await approved(bob, await device(bob.sub))
    const handed: { who: string; event: ReactionEvent; reactions: string[] }[] = []
    const hand = (who: string, { chat }: { chat: typeof alice.chat }) =>
      chat.onReaction((event, reactions) => {
        handed.push({ who, event, reactions: shown(reactions) })
      })
    const to = (who: string) => handed.filter((h) => h.who === who).map((h) => h.reactions)
    hand('alice', alice)
    hand('bob', bob)
    hand('bob phone', bobPhone)
    hand('carol', carol)
    const { gid, group, joined } = await encryptedGroup(alice, bob, carol, bobPhone)
    const bobsPhoneGroup = joined[2]
    await group.message('sealed lunch?')
    const [atBob, atCarol] = await Promise.all([
      received(bob, 'sealed lunch?'),
      received(carol, 'sealed lunch?'),
    ])

    // Live: bob's device seals it, the others open it; a repeat is answered on the device, never sent.
    expect(await atBob.react('👍')).toMatchObject({ emoji: '👍', remove: false, duplicate: false })
    expect(await atBob.react('👍')).toMatchObject({ duplicate: true })
    expect(shown(atBob.reactions)).toEqual([`👍 1 mine ${bob.sub}`])
    await waitFor(() => expect(shown(atCarol.reactions)).toEqual([`👍 1 - ${bob.sub}`]))
    await waitFor(() => expect(to('alice')).toEqual([[`👍 1 - ${bob.sub}`]]))
    const [live] = handed
    expect(live?.event).toMatchObject({ iss: bob.sub, target: atBob.seq, emoji: '👍' })
    expect(live?.event).not.toHaveProperty('cipher')
    // Bob's other device opens it too, as his own.
    await waitFor(() => expect(to('bob phone')).toEqual([[`👍 1 mine ${bob.sub}`]]))

    // Away: carol's device is closed while bob takes his back on his phone and alice adds hers; it catches up
    // on restart. Bob's first device is handed his phone's change.
    await carol.client.close()
    await bobsPhoneGroup?.unreact(atBob.seq, '👍')
    await group.react(atBob.seq, '🎉')
    await waitFor(() => expect(to('bob')).toEqual([[], [`🎉 1 - ${alice.sub}`]]))
    const again = await device(carol.sub, carol.store, carol.cursors)
    hand('carol', again)
    // Its catch-up opened both (MLS opens each cipher once) and kept them: history folds them from there.
    const [mine] = (await again.chat.groups()).filter((g) => g.gid === gid)
    const page = await mine?.history()
    const message = page?.events.find((e): e is ChatMessage => e.type === 'chat.message')
    expect(shown(message?.reactions ?? [])).toEqual([`🎉 1 - ${alice.sub}`])
    expect(page?.events.filter((e) => e.type === 'chat.reaction').map((e) => e.emoji)).toEqual([
      '🎉',
      '👍',
      '👍',
    ])

    // The server holds ciphertext only: no emoji, no way, and nothing on the message.
    const items = (await groupItems(gid)) as Record<string, unknown>[]
    const reactions = items.filter((item) => item.type === 'chat.reaction')
    expect(reactions).toHaveLength(3)
    for (const item of reactions) {
      expect(item).toMatchObject({ emoji: '', cipher: expect.any(String) })
      expect(item).not.toHaveProperty('remove')
    }
    expect(JSON.stringify(items)).not.toMatch(/👍|🎉/u)
    expect(items.find((item) => item.type === 'chat.message')).not.toHaveProperty('reactions')

    // A member replaying bob's cipher onto another message is stored (the server cannot tell) and dropped by
    // every device; one sending an emoji in clear is refused, nothing stored.
    const other = await group.message('another')
    const bobsCipher = String(reactions[0]?.cipher)
    const replay = await again.client.request('react', { gid, target: other.seq, cipher: bobsCipher })
    expect(replay.seq).toBeGreaterThan(other.seq)
    // The log's events only: members' receipts move on their own as devices catch up.
    const events = async () =>
      ((await groupItems(gid)) as Record<string, unknown>[]).filter((item) => item.type !== undefined)
    const before = await events()
    const clear = await again.client.request('react', { gid, target: other.seq, emoji: '👍' }).catch((e) => e)
    expect(clear).toMatchObject({ code: 'BAD_REQUEST' })
    expect(String(clear.message)).toContain('encrypted')
    expect(await events()).toEqual(before)
    await group.react(other.seq, '👀')
    // Each device takes the group's events in order: once it has alice's, it has dropped the replay before.
    const onOther = () => handed.filter((h) => h.event.target === other.seq)
    await waitFor(() => expect(onOther()).toHaveLength(3))
    expect(new Set(onOther().map((h) => h.reactions.join()))).toEqual(new Set([`👀 1 - ${alice.sub}`]))

    // Removed, carol can no longer react, and reads none of the reactions made after.
    await group.remove(carol.sub)
    await keysSettled(gid, alice, bob, bobPhone)
    await joined[0]?.react(atBob.seq, '❤️')
    await waitFor(() => expect(to('alice').at(-1)).toEqual([`🎉 1 mine ${alice.sub}`, `❤️ 1 - ${bob.sub}`]))
    await waitFor(() =>
      expect(to('bob phone').at(-1)).toEqual([`🎉 1 - ${alice.sub}`, `❤️ 1 mine ${bob.sub}`]),
    )
    expect(handed.filter((h) => h.who === 'carol' && h.event.emoji === '❤️')).toEqual([])
    const refused = await again.client
      .request('react', { gid, target: atBob.seq, cipher: bobsCipher })
      .catch((e) => e)
    expect(refused).toBeInstanceOf(ChatError)
    expect(refused).toMatchObject({ code: 'FORBIDDEN' })
  })

  it('shows a message’s first 20 emoji, in the log’s order, and answers a repeat and a remove of none as no change', () => {
    const book = new ReactionBook()
    const event = (seq: number, iss: string, emoji: string, remove = false): ReactionEvent => ({
      type: 'chat.reaction',
      gid: 'g',
      iss,
      target: 1,
      emoji,
      ...(remove && { remove: true as const }),
      seq,
      iat: '',
    })
    const emoji = Array.from({ length: limits.emojiPerMessage + 1 }, (_, i) =>
      String.fromCodePoint(0x1f600 + i),
    )
    // Read newest first, as history pages come: the order of the log still decides which 20 show.
    for (const [i, e] of [...emoji.entries()].reverse()) expect(book.apply(event(i + 2, 'ann', e))).toBe(true)
    expect(book.of('g', 1, 'ann').map((r) => r.emoji)).toEqual(emoji.slice(0, limits.emojiPerMessage))
    expect(() => book.requireRoom('g', 1, '🚀')).toThrow(/react with one of them/)
    expect(book.apply(event(100, 'ann', emoji[0] ?? ''))).toBe(false)
    expect(book.apply(event(101, 'bob', '🚀', true))).toBe(false)
    expect(book.has('g', 1, emoji[0] ?? '', 'ann')).toBe(true)
    expect(book.apply(event(102, 'ann', emoji[0] ?? '', true))).toBe(true)
    expect(book.of('g', 1, 'ann').map((r) => r.emoji)).toEqual(emoji.slice(1))
  })
})
