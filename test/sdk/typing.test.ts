import type { ChatGroup, TypingEvent } from '@huddle/client'
import { describe, expect, it } from 'vitest'
import { unique } from '../support/huddle.js'
import { participant, waitFor } from '../support/sdk.js'

/** A participant that joins what it is invited to, and keeps who types where as the SDK tells it. */
async function typist(sub: string, holdMs: number) {
  const seen = await participant(sub, { typing: { holdMs } })
  const typing: TypingEvent[] = []
  const changes: string[][] = []
  seen.chat.onInvite(async (group) => {
    await group.join()
    seen.groups.set(group.gid, group)
  })
  seen.chat.onTyping((_iss, _gid, event) => {
    typing.push(event)
  })
  seen.chat.onTypingChange((_gid, now) => {
    changes.push(now)
  })
  return { ...seen, typing, changes }
}

describe('typing in the SDK', () => {
  it('shows who is typing, drops them by themselves, and at once when their message arrives', async () => {
    const alice = await typist(unique('alice'), 60_000)
    const bob = await typist(unique('bob'), 200)
    const carol = await typist(unique('carol'), 60_000)
    // bob's other device holds indicators a minute: only a message can end one there.
    const bobPhone = await typist(bob.sub, 60_000)
    const gid = unique('typing')
    const group = await alice.chat.invite(gid, 'Typing', [bob.sub, carol.sub])
    await waitFor(() => expect(alice.joins).toHaveLength(2))
    const bobs = () => bob.groups.get(gid) as ChatGroup

    // Every keystroke may call it: one request a window goes out, and bob hears of it once.
    const sent = []
    for (let key = 0; key < 10; key++) sent.push(await group.typing())
    expect(sent).toEqual([true, ...Array(9).fill(false)])
    await waitFor(() => expect(bob.changes).toEqual([[alice.sub], []]))
    expect(bob.typing).toEqual([{ type: 'chat.typing', gid, iss: alice.sub, expiresIn: expect.any(Number) }])
    expect(bobs().typingNow()).toEqual([])
    // The typist's own devices are not told.
    expect(alice.typing).toEqual([])

    await waitFor(() => expect(carol.groups.has(gid)).toBe(true))
    const carols = carol.groups.get(gid) as ChatGroup
    expect(await carols.typing()).toBe(true)
    await waitFor(() => expect(bobPhone.changes.at(-1)).toEqual([alice.sub, carol.sub]))
    await carols.message('done typing')
    await waitFor(() => expect(bobPhone.changes.at(-1)).toEqual([alice.sub]))
  })
})
