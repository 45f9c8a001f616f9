import type { ChatMessage, ReactionEvent, ReactionSummary } from '@huddle/client'
import { describe, expect, it } from 'vitest'
import { unique } from '../support/huddle.js'
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
})
