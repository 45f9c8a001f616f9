import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileCursorStore, type GroupEvent } from '@huddle/client'
import { describe, expect, it } from 'vitest'
import { Chat } from '../../lambdas/core/chat.js'
import type { ObjectStore } from '../../lambdas/core/ports.js'
import { httpUrl, tableClient, unique } from '../support/huddle.js'
import { connectionIds, cutConnections, only, participant, waitFor } from '../support/sdk.js'

type Participant = Awaited<ReturnType<typeof participant>>

/** A group created by the first participant, with every other one joined. */
async function groupOf(owner: Participant, ...others: Participant[]) {
  const gid = unique('durable')
  const group = await owner.chat.invite(
    gid,
    'Durable',
    others.map((p) => p.sub),
  )
  for (const other of others) other.groups.set(gid, await other.chat.join(gid))
  return { gid, group }
}

/** The group's whole log after `after`, as its creator may read it, told the way `participant` tells it. */
async function storyAfter(owner: Participant, gid: string, after: number): Promise<string[]> {
  const events: GroupEvent[] = []
  let next: number | undefined = after
  while (next !== undefined) {
    const page: { events: GroupEvent[]; next?: number } = await owner.client.request('history', {
      gid,
      after: next,
      limit: 100,
    })
    events.push(...page.events)
    next = page.next
  }
  return events.map((e) => ('jti' in e ? `${e.type.slice(5)} ${e.jti}` : `${e.type.slice(5)} ${e.iss}`))
}

describe('durable conversations through the SDK', () => {
  it('hands a member whose sockets are cut again and again every event once, in order', async () => {
    const [alice, bob, carol] = await Promise.all([
      participant(unique('alice')),
      participant(unique('bob')),
      participant(unique('carol')),
    ])
    const dave = await participant(unique('dave'), { reconnect: { minDelayMs: 5, maxDelayMs: 40 } })
    const statuses: string[] = []
    dave.client.onStatus((status) => statuses.push(status))
    const { gid, group } = await groupOf(alice, bob, carol, dave)
    const davesJoin = (await alice.chat.groups()).find((g) => g.gid === gid)?.members.length
    expect(davesJoin).toBe(4)
    const bobsGroup = bob.groups.get(gid)
    if (!bobsGroup) throw new Error('bob has no group')

    let cutting = true
    let cuts = 0
    const cutter = (async () => {
      while (cutting) {
        cuts += await cutConnections(dave.sub)
        await new Promise((resolve) => setTimeout(resolve, 40))
      }
    })()
    const burst = async (
      sender: Participant,
      from: typeof group,
      revise: (jti: string, i: number) => Promise<unknown>,
    ) => {
      for (let i = 0; i < 25; i++) {
        const { jti } = await from.message(`${sender.sub} ${i}`)
        await revise(jti, i)
      }
    }
    await Promise.all([
      burst(alice, group, (jti, i) => (i % 6 === 5 ? group.delete(jti) : Promise.resolve())),
      burst(bob, bobsGroup, (jti, i) =>
        i % 5 === 4 ? bobsGroup.edit(jti, `edited ${i}`) : Promise.resolve(),
      ),
      (async () => {
        await waitFor(() => expect(carol.messages.length).toBeGreaterThan(10))
        await carol.groups.get(gid)?.leave()
      })(),
    ])
    cutting = false
    await cutter
    await dave.chat.catchUp()

    expect(cuts).toBeGreaterThanOrEqual(3)
    expect(statuses.filter((s) => s === 'reconnecting').length).toBeGreaterThanOrEqual(3)
    // Everything after dave's own join (the fourth event), each once, in the group's order.
    const expected = await storyAfter(alice, gid, 3)
    expect(expected.filter((line) => line.startsWith('edit'))).toHaveLength(5)
    expect(expected.filter((line) => line.startsWith('delete'))).toHaveLength(4)
    expect(expected).toContain(`leave ${carol.sub}`)
    expect(dave.story).toEqual(expected)
  }, 60_000)

  it('heals a post that failed for one recipient by reading the log when the next event shows the hole', async () => {
    const [alice, bob] = await Promise.all([participant(unique('alice')), participant(unique('bob'))])
    const { group } = await groupOf(alice, bob)
    const failing = await fetch(`${httpUrl()}/dev/fail-posts`, {
      method: 'POST',
      body: JSON.stringify({
        connectionId: only(await connectionIds(bob.sub)),
        containing: 'lost in the post',
      }),
    })
    expect(failing.status).toBe(204)

    await group.message('lost in the post')
    await group.message('after the hole')
    await waitFor(() =>
      expect(bob.messages.map((m) => m.body)).toEqual(['lost in the post', 'after the hole']),
    )
    // bob joined at seq 1; the lost message is 2.
    expect(bob.messages.map((m) => m.seq)).toEqual([2, 3])
  })

  it('posts a message stored by a function that died before its fan-out when the sender retries it, once', async () => {
    const [alice, bob, carol] = await Promise.all([
      participant(unique('alice')),
      participant(unique('bob')),
      participant(unique('carol')),
    ])
    const { gid, group } = await groupOf(alice, bob, carol)
    // A message function that stored the message and then died: none of its posts went out.
    const died = new Chat({
      store: tableClient().store,
      objects: {} as ObjectStore,
      sender: {
        send: () => Promise.reject(new Error('the function died')),
      },
    })
    const jti = crypto.randomUUID()
    const stored = await died.conversation.message(
      { iss: alice.sub, connectionId: 'gone' },
      { gid, body: 'stranded?', jti },
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(bob.messages).toEqual([])

    // The sender's SDK retries with the same jti (as it does after a timeout or a drop).
    const retried = await group.message('stranded?', { jti })
    expect(retried).toMatchObject({ duplicate: true, seq: stored.seq })
    for (const member of [bob, carol]) {
      await waitFor(() => expect(member.messages.map((m) => [m.jti, m.seq])).toEqual([[jti, stored.seq]]))
    }
    // Retrying once more posts it again; the SDK drops the copy.
    await group.message('stranded?', { jti })
    await group.message('next')
    await waitFor(() => expect(bob.messages.map((m) => m.body)).toEqual(['stranded?', 'next']))
    expect(carol.messages.map((m) => m.body)).toEqual(['stranded?', 'next'])
  })

  it('catches a restarted app up from its saved cursors, and starts a new one at the head', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'huddle-cursors-'))
    try {
      const alice = await participant(unique('alice'))
      const bobSub = unique('bob')
      const cursors = join(dir, 'bob.json')
      const bob = await participant(bobSub, { cursors: fileCursorStore(cursors) })
      const { group } = await groupOf(alice, bob)
      const first = await group.message('before the restart')
      await waitFor(() => expect(bob.story).toEqual([`message ${first.jti}`]))
      await bob.client.close()

      const second = await group.message('while bob was down')
      await group.edit(first.jti, 'edited while bob was down')
      const third = await group.message('still down')

      const restarted = await participant(bobSub, { cursors: fileCursorStore(cursors) })
      await restarted.chat.catchUp()
      expect(restarted.story).toEqual([`message ${second.jti}`, `edit ${first.jti}`, `message ${third.jti}`])
      expect(only(restarted.edits).body).toBe('edited while bob was down')

      // A new install (nothing saved) follows from now on; the past is in history.
      const fresh = await participant(bobSub)
      await fresh.chat.catchUp()
      const news = await group.message('news')
      await waitFor(() => expect(fresh.story).toEqual([`message ${news.jti}`]))
      await waitFor(() => expect(restarted.story.at(-1)).toBe(`message ${news.jti}`))
      await Promise.all([restarted.client.close(), fresh.client.close()])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('lets senders alone edit and delete, and shows both in history', async () => {
    const [alice, bob] = await Promise.all([participant(unique('alice')), participant(unique('bob'))])
    const { gid, group } = await groupOf(alice, bob)
    const sent = await group.message('first draft')
    await waitFor(() => expect(bob.messages).toHaveLength(1))
    const received = only(bob.messages)
    await expect(received.edit('not mine')).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(received.delete()).rejects.toMatchObject({ code: 'FORBIDDEN' })

    await group.edit(sent.jti, 'final')
    await waitFor(() => expect(bob.edits.map((e) => [e.jti, e.body])).toEqual([[sent.jti, 'final']]))
    const doomed = await group.message('oops')
    await group.delete(doomed.jti)
    await waitFor(() => expect(bob.deletes.map((e) => e.jti)).toEqual([doomed.jti]))

    const bobsGroup = bob.groups.get(gid)
    const page = await bobsGroup?.history({ limit: 3 })
    expect(page?.events.map((e) => e.type)).toEqual(['chat.delete', 'chat.message', 'chat.edit'])
    const [, tombstone, edit] = page?.events ?? []
    expect(tombstone).toMatchObject({ jti: doomed.jti, body: '', deleted: expect.any(String) })
    expect(edit).toMatchObject({ jti: sent.jti, body: 'final' })
    const older = await bobsGroup?.history({ before: page?.next, limit: 100 })
    expect(older?.events.at(0)).toMatchObject({
      type: 'chat.message',
      jti: sent.jti,
      body: 'final',
      edited: expect.any(String),
    })
    expect(older?.next).toBeUndefined()
  })

  it('sends delivered receipts by itself, read receipts when asked, and counts what is unread', async () => {
    const [alice, carol] = await Promise.all([participant(unique('alice')), participant(unique('carol'))])
    const bob = await participant(unique('bob'), { deliveredReceipts: { delayMs: 20 } })
    const { gid, group } = await groupOf(alice, bob, carol)
    const unread = async (who: Participant) => (await who.chat.groups()).find((g) => g.gid === gid)?.unread

    // bob joined at seq 1, carol at 2: their positions start there.
    await group.message('one')
    const two = await group.message('two')
    await waitFor(() =>
      expect(alice.receipts).toContainEqual({ gid, iss: bob.sub, delivered: two.seq, read: 1 }),
    )
    expect(await unread(bob)).toBe(2)

    await waitFor(() => expect(bob.messages).toHaveLength(2))
    await bob.messages[1]?.markRead()
    await waitFor(() =>
      expect(alice.receipts).toContainEqual({ gid, iss: bob.sub, delivered: two.seq, read: two.seq }),
    )
    expect(await unread(bob)).toBe(0)

    // carol sent nothing the receipts cover, so none reached her; alice's reply is unread for bob.
    await bob.groups.get(gid)?.message('thanks')
    expect(await unread(alice)).toBe(1)
    await group.markRead()
    expect(await unread(alice)).toBe(0)
    expect(carol.receipts.filter((r) => r.iss === bob.sub)).toEqual([])

    // Positions that move while a sender is offline arrive once it is back.
    const seen = alice.receipts.length
    await cutConnections(alice.sub)
    await waitFor(() => expect(alice.client.status).toBe('reconnecting'))
    await carol.groups.get(gid)?.markRead()
    await waitFor(() =>
      expect(alice.receipts.slice(seen)).toContainEqual({ gid, iss: carol.sub, delivered: 5, read: 5 }),
    )
  })
})
