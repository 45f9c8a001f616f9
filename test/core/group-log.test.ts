import { BatchWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb'
import {
  type AckResults,
  type GroupEvent,
  limits,
  type MessageEvent,
  type Requests,
} from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { showsEveryDeparture } from '../../lambdas/adapters/dynamo/group-store.js'
import { keys } from '../../lambdas/adapters/dynamo/keys.js'
import { Chat } from '../../lambdas/core/chat.js'
import type { ObjectStore } from '../../lambdas/core/ports.js'
import { connector } from '../support/clients.js'
import {
  groupItems,
  httpUrl,
  indexCaughtUp,
  type TestClient,
  tableClient,
  unique,
} from '../support/huddle.js'

const connect = connector()

/** Creates a group of `admin`'s; the members join one after another, so member i's join takes seq i. */
async function groupOf(admin: TestClient, ...members: TestClient[]): Promise<string> {
  const gid = unique('conversation')
  await admin.ok('invite', { gid, name: 'Conversation', members: members.map((m) => m.iss) })
  for (const member of members) await member.ok('join', { gid })
  return gid
}

/** A group of `admin`'s alone: the one it invites never connects. */
async function soloGroup(admin: TestClient): Promise<string> {
  const gid = unique('solo')
  await admin.ok('invite', { gid, name: 'Solo', members: [unique('absent')] })
  return gid
}

/**
 * Writes `count` messages of `iss` into an empty group's log (seqs 1…count) as the server stores its
 * events, far faster than sending them one by one. They get no jti markers: only history reads them.
 */
async function seedLog(gid: string, iss: string, count: number): Promise<void> {
  const { db, tableName } = tableClient()
  const iat = new Date().toISOString()
  const items = Array.from({ length: count }, (_, i) => {
    const message: MessageEvent = {
      type: 'chat.message',
      gid,
      iss,
      jti: `seed-${i + 1}`,
      body: `m${i + 1}`,
      iat,
      seq: i + 1,
    }
    return { ...keys.event(gid, i + 1), ...message }
  })
  for (let i = 0; i < items.length; i += 25) {
    const batch = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }))
    const { UnprocessedItems } = await db.send(
      new BatchWriteCommand({ RequestItems: { [tableName]: batch } }),
    )
    if (Object.keys(UnprocessedItems ?? {}).length > 0) throw new Error('DynamoDB Local left items unwritten')
  }
  await db.send(
    new UpdateCommand({
      TableName: tableName,
      Key: keys.group(gid),
      UpdateExpression: 'SET seq = :head',
      ExpressionAttributeValues: { ':head': count },
    }),
  )
}

async function history(
  client: TestClient,
  gid: string,
  page: Omit<Requests['history'], 'gid'> = {},
): Promise<AckResults['history']> {
  return (await client.ok('history', { gid, ...page })) as unknown as AckResults['history']
}

async function seqOf(client: TestClient, action: string, fields: Record<string, unknown>): Promise<number> {
  return Number((await client.ok(action, fields)).seq)
}

/** A page in short: the head, the seqs in the order given and the next cursor. */
function outline({ head, events, next }: AckResults['history']) {
  return { head, seqs: events.map((e) => e.seq), next }
}

/** The group events a client received for `gid`, as [type, seq] in the order they arrived. */
function received(client: TestClient, gid: string): [string, number][] {
  return client.frames.flatMap((frame) => {
    const event = frame as Partial<GroupEvent>
    return event.gid === gid && event.type?.startsWith('chat.') && event.seq !== undefined
      ? [[event.type, event.seq] as [string, number]]
      : []
  })
}

/** The receipts a client received for `gid`, as [iss, delivered, read]. */
function receipts(client: TestClient, gid: string): [string, number, number][] {
  return client.events('chat.receipt', gid).map((e) => [e.iss, e.delivered, e.read])
}

describe('the group log', () => {
  it('numbers every event of a group 1, 2, 3… and acknowledges each with its seq', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = unique('seq')
    await alice.ok('invite', { gid, name: 'Seq', members: [bob.iss, carol.iss] })

    const acks = [
      await seqOf(bob, 'join', { gid }),
      await seqOf(carol, 'join', { gid }),
      await seqOf(alice, 'message', { gid, body: 'hello', jti: 'm1' }),
      await seqOf(alice, 'edit', { gid, jti: 'm1', body: 'hello, edited' }),
      await seqOf(alice, 'delete', { gid, jti: 'm1' }),
      await seqOf(carol, 'leave', { gid }),
    ]
    expect(acks).toEqual([1, 2, 3, 4, 5, 6])

    await Promise.all([alice.settle(), bob.settle(), carol.settle()])
    expect(received(bob, gid)).toEqual([
      ['chat.join', 2],
      ['chat.message', 3],
      ['chat.edit', 4],
      ['chat.delete', 5],
      ['chat.leave', 6],
    ])
    expect(received(alice, gid)).toEqual([
      ['chat.join', 1],
      ['chat.join', 2],
      ['chat.leave', 6],
    ])
    expect(received(carol, gid)).toEqual([
      ['chat.message', 3],
      ['chat.edit', 4],
      ['chat.delete', 5],
    ])

    const log = await history(bob, gid, { after: 0 })
    expect(log.head).toBe(6)
    expect(log.events.map((e) => [e.type, e.seq])).toEqual([
      ['chat.join', 1],
      ['chat.join', 2],
      ['chat.message', 3],
      ['chat.edit', 4],
      ['chat.delete', 5],
      ['chat.leave', 6],
    ])
  })
})

describe('departures', () => {
  it('are counted on the group and on each membership, across invites again, so a read can check it saw them all', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = unique('departures')
    const { store } = tableClient()
    const read = async () => {
      const state = await store.readGroup(gid)
      if (!state) throw new Error('no group')
      const leaves = Object.fromEntries(state.members.map((m) => [m.iss, m.leaves ?? 0]))
      return { departures: state.group.departures, leaves, whole: showsEveryDeparture(state) }
    }
    await alice.ok('invite', { gid, name: 'Departures', members: [bob.iss, carol.iss] })
    await bob.ok('join', { gid })
    expect(await read()).toEqual({
      departures: undefined,
      leaves: { [alice.iss]: 0, [bob.iss]: 0, [carol.iss]: 0 },
      whole: true,
    })

    await bob.ok('leave', { gid })
    await carol.ok('leave', { gid }) // declines its invite
    await alice.ok('invite', { gid, name: 'Departures', members: [bob.iss] })
    await bob.ok('join', { gid })
    await bob.ok('leave', { gid })
    const counted = await read()
    expect(counted).toEqual({
      departures: 3,
      leaves: { [alice.iss]: 0, [bob.iss]: 2, [carol.iss]: 1 },
      whole: true,
    })

    // A read that met bob's membership before its last leave, and the group item after it.
    const state = await store.readGroup(gid)
    if (!state) throw new Error('no group')
    const torn = {
      ...state,
      members: state.members.map((m) =>
        m.iss === bob.iss ? { ...m, status: 'joined' as const, leaves: 1 } : m,
      ),
    }
    expect(showsEveryDeparture(torn)).toBe(false)
  })
})

describe('a message sent again', () => {
  it('reaches again only those who were members at its seq, not one who joined since', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = unique('again')
    await alice.ok('invite', { gid, name: 'Again', members: [bob.iss, carol.iss] })
    await bob.ok('join', { gid })
    const first = await seqOf(alice, 'message', { gid, body: 'before carol', jti: 'early' })
    await carol.ok('join', { gid })

    expect(await alice.ok('message', { gid, body: 'before carol', jti: 'early' })).toMatchObject({
      seq: first,
      duplicate: true,
    })
    await alice.ok('message', { gid, body: 'after carol', jti: 'late' })
    await Promise.all([bob.settle(), carol.settle()])
    expect(bob.events('chat.message', gid).map((e) => e.jti)).toEqual(['early', 'early', 'late'])
    expect(carol.events('chat.message', gid).map((e) => e.jti)).toEqual(['late'])
  })
})

describe('history', () => {
  it('pages newest first and ascending with next, 50 events by default and at most 100', async () => {
    const [alice] = await connect(unique('alice'))
    const gid = await soloGroup(alice)
    await seedLog(gid, alice.iss, 100)
    // The server carries on from the seeded head.
    expect(await seqOf(alice, 'message', { gid, body: 'm101' })).toBe(101)
    const range = (from: number, to: number) =>
      Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => (from < to ? from + i : from - i))

    expect(outline(await history(alice, gid))).toEqual({ head: 101, seqs: range(101, 52), next: 52 })
    expect(outline(await history(alice, gid, { limit: 100 }))).toEqual({
      head: 101,
      seqs: range(101, 2),
      next: 2,
    })
    expect(outline(await history(alice, gid, { before: 2, limit: 100 }))).toEqual({
      head: 101,
      seqs: [1],
      next: undefined,
    })
    expect(outline(await history(alice, gid, { before: 4, limit: 3 }))).toEqual({
      head: 101,
      seqs: [3, 2, 1],
      next: undefined,
    })

    expect(outline(await history(alice, gid, { after: 0, limit: 100 }))).toMatchObject({
      seqs: range(1, 100),
      next: 100,
    })
    expect(outline(await history(alice, gid, { after: 100, limit: 100 }))).toEqual({
      head: 101,
      seqs: [101],
      next: undefined,
    })
    expect(outline(await history(alice, gid, { after: 10, limit: 2 }))).toMatchObject({
      seqs: [11, 12],
      next: 12,
    })
    expect(outline(await history(alice, gid, { after: 101 }))).toEqual({
      head: 101,
      seqs: [],
      next: undefined,
    })
    const [oldest] = (await history(alice, gid, { before: 2 })).events
    expect(oldest).toMatchObject({ type: 'chat.message', iss: alice.iss, body: 'm1', seq: 1 })
  })
})

describe('history windows', () => {
  it('lets a member read from its invite through its leave, also once invited again, and nobody else', async () => {
    const [alice, bob, carol, mallory] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('mallory'),
    )
    const gid = await groupOf(alice, bob) // bob's join: 1
    await alice.ok('message', { gid, body: 'before carol' }) // 2
    await alice.ok('invite', { gid, name: 'Conversation', members: [carol.iss] })

    expect(await carol.request('history', { gid })).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    expect(await mallory.request('history', { gid })).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    expect(await mallory.request('history', { gid: unique('nowhere') })).toMatchObject({
      type: 'error',
      code: 'NOT_FOUND',
    })

    await carol.ok('join', { gid }) // 3
    await alice.ok('message', { gid, body: 'with carol' }) // 4
    expect(outline(await history(carol, gid))).toEqual({ head: 4, seqs: [4, 3], next: undefined })
    expect(outline(await history(carol, gid, { after: 0 }))).toEqual({
      head: 4,
      seqs: [3, 4],
      next: undefined,
    })
    expect(outline(await history(carol, gid, { before: 3 }))).toEqual({ head: 4, seqs: [], next: undefined })

    await carol.ok('leave', { gid }) // 5
    await alice.ok('message', { gid, body: 'after carol left' }) // 6
    expect(outline(await history(carol, gid))).toEqual({ head: 5, seqs: [5, 4, 3], next: undefined })
    expect(outline(await history(carol, gid, { before: 7 }))).toMatchObject({ seqs: [5, 4, 3] })
    expect(outline(await history(carol, gid, { after: 4 }))).toEqual({ head: 5, seqs: [5], next: undefined })
    expect(outline(await history(carol, gid, { after: 5 }))).toEqual({ head: 5, seqs: [], next: undefined })
    expect(outline(await history(bob, gid))).toEqual({ head: 6, seqs: [6, 5, 4, 3, 2, 1], next: undefined })

    // Invited again: its last window stays readable (so its devices can catch up to its leave), and
    // nothing after it until it joins; then the events after the new invite.
    await alice.ok('invite', { gid, name: 'Conversation', members: [carol.iss] })
    expect(outline(await history(carol, gid))).toEqual({ head: 5, seqs: [5, 4, 3], next: undefined })
    expect(outline(await history(carol, gid, { after: 5 }))).toEqual({ head: 5, seqs: [], next: undefined })
    await alice.ok('message', { gid, body: 'while carol was invited again' }) // 7
    await carol.ok('join', { gid }) // 8
    expect(outline(await history(carol, gid))).toEqual({ head: 8, seqs: [8, 7], next: undefined })
    // Reading on from the start goes through the last window to its leave, then the new one.
    expect(outline(await history(carol, gid, { after: 0 }))).toEqual({
      head: 5,
      seqs: [3, 4, 5],
      next: undefined,
    })
    expect(outline(await history(carol, gid, { after: 5 }))).toEqual({
      head: 8,
      seqs: [7, 8],
      next: undefined,
    })
    // Left and invited twice: only the last window is kept.
    await carol.ok('leave', { gid }) // 9
    await alice.ok('invite', { gid, name: 'Conversation', members: [carol.iss] })
    expect(outline(await history(carol, gid, { after: 0 }))).toEqual({
      head: 9,
      seqs: [7, 8, 9],
      next: undefined,
    })
  })

  it('shows messages as they are now: the latest body, tombstones, and edits with the current body', async () => {
    const [alice] = await connect(unique('alice'))
    const gid = await soloGroup(alice)
    await alice.ok('message', { gid, body: 'first', jti: 'kept' }) // 1
    await alice.ok('message', { gid, body: 'secret draft', jti: 'gone' }) // 2
    await alice.ok('edit', { gid, jti: 'kept', body: 'second' }) // 3
    await alice.ok('edit', { gid, jti: 'kept', body: 'third' }) // 4
    await alice.ok('edit', { gid, jti: 'gone', body: 'secret, edited' }) // 5
    await alice.ok('delete', { gid, jti: 'gone' }) // 6

    const { events } = await history(alice, gid, { after: 0 })
    const at = (seq: number) => events.find((e) => e.seq === seq)?.iat
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(events[0]).toMatchObject({ type: 'chat.message', jti: 'kept', body: 'third', edited: at(4) })
    expect(events[0]).not.toHaveProperty('deleted')
    expect(events[1]).toMatchObject({ type: 'chat.message', jti: 'gone', deleted: at(6) })
    expect(events[1]).not.toHaveProperty('body')
    expect(events[2]).toMatchObject({ type: 'chat.edit', iss: alice.iss, jti: 'kept', body: 'third' })
    expect(events[3]).toMatchObject({ type: 'chat.edit', jti: 'kept', body: 'third' })
    expect(events[4]).toMatchObject({ type: 'chat.edit', jti: 'gone' })
    expect(events[4]).not.toHaveProperty('body')
    expect(events[5]).toMatchObject({ type: 'chat.delete', iss: alice.iss, jti: 'gone' })
    expect(events[5]).not.toHaveProperty('body')
    // A deleted message's bodies are gone from the table too, not just hidden.
    expect(JSON.stringify(await groupItems(gid))).not.toMatch(/secret/)
  })
})

describe('edit and delete', () => {
  it('lets only the sender edit or delete, tells the members once, and answers repeats as duplicates', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await groupOf(alice, bob) // 1
    await alice.ok('message', { gid, body: 'original', jti: 'm' }) // 2
    const before = await groupItems(gid)

    for (const [client, action, fields, code] of [
      [bob, 'edit', { gid, jti: 'm', body: 'hijacked' }, 'FORBIDDEN'],
      [bob, 'delete', { gid, jti: 'm' }, 'FORBIDDEN'],
      [alice, 'edit', { gid, jti: 'unknown', body: 'x' }, 'NOT_FOUND'],
      [alice, 'delete', { gid, jti: 'unknown' }, 'NOT_FOUND'],
    ] as const) {
      const reply = await client.request(action, fields)
      expect(reply, `${action} ${fields.jti}`).toMatchObject({ type: 'error', code })
    }
    expect(await groupItems(gid)).toEqual(before)

    const edit = { gid, jti: 'm', body: 'edited' }
    expect(await alice.ok('edit', edit)).toMatchObject({ jti: 'm', seq: 3, duplicate: false })
    expect(await alice.ok('edit', edit)).toMatchObject({ jti: 'm', seq: 3, duplicate: true })
    expect(await alice.ok('delete', { gid, jti: 'm' })).toMatchObject({ seq: 4, duplicate: false })
    expect(await alice.ok('delete', { gid, jti: 'm' })).toMatchObject({ seq: 4, duplicate: true })
    expect(await alice.request('edit', { gid, jti: 'm', body: 'too late' })).toMatchObject({
      type: 'error',
      code: 'NOT_FOUND',
    })

    await bob.settle()
    expect(bob.events('chat.edit', gid)).toEqual([
      { type: 'chat.edit', gid, iss: alice.iss, jti: 'm', body: 'edited', seq: 3, iat: expect.any(String) },
    ])
    expect(bob.events('chat.delete', gid)).toEqual([
      { type: 'chat.delete', gid, iss: alice.iss, jti: 'm', seq: 4, iat: expect.any(String) },
    ])
    expect((await history(bob, gid)).head).toBe(4)
  })
})

describe('replies', () => {
  it('accepts a rid that names a message of the same group and refuses any other', async () => {
    const [alice] = await connect(unique('alice'))
    const gid = await soloGroup(alice)
    const other = await soloGroup(alice)
    await alice.ok('message', { gid: other, body: 'elsewhere', jti: 'elsewhere' })
    await alice.ok('message', { gid, body: 'question', jti: 'question' })

    const answer = await alice.ok('message', { gid, body: 'answer', rid: 'question' })
    const [stored] = (await history(alice, gid, { limit: 1 })).events
    expect(stored).toMatchObject({ type: 'chat.message', jti: answer.jti, body: 'answer', rid: 'question' })

    const before = await groupItems(gid)
    for (const rid of ['elsewhere', 'unknown']) {
      const reply = await alice.request('message', { gid, body: 'dangling', rid })
      expect(reply, rid).toMatchObject({ type: 'error', code: 'BAD_REQUEST' })
    }
    expect(await groupItems(gid)).toEqual(before)
  })
})

describe('receipts', () => {
  it('tells the senders of the messages a receipt newly covers and the reader’s other devices, no one else', async () => {
    const bobIss = unique('bob')
    const [alice, bob, bobLaptop, carol, mallory] = await connect(
      unique('alice'),
      bobIss,
      bobIss,
      unique('carol'),
      unique('mallory'),
    )
    const gid = await groupOf(alice, bob, carol) // 1, 2
    await alice.ok('message', { gid, body: 'from alice' }) // 3
    await carol.ok('message', { gid, body: 'from carol' }) // 4

    const receipt = (fields: Omit<Requests['receipt'], 'gid'>) => bob.ok('receipt', { gid, ...fields })
    expect(await receipt({ delivered: 4 })).toMatchObject({ delivered: 4, read: 1 })
    expect(await receipt({ read: 3 })).toMatchObject({ delivered: 4, read: 3 })
    expect(await receipt({ read: 4 })).toMatchObject({ delivered: 4, read: 4 })
    // Positions never move back, and a receipt that moves nothing tells no one.
    expect(await receipt({ read: 2, delivered: 1 })).toMatchObject({ delivered: 4, read: 4 })
    expect(await receipt({ read: 4 })).toMatchObject({ delivered: 4, read: 4 })
    for (const fields of [{ read: 5 }, { delivered: 5 }]) {
      const reply = await bob.request('receipt', { gid, ...fields })
      expect(reply, JSON.stringify(fields)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' })
    }
    for (const action of ['receipt', 'receipts']) {
      const reply = await mallory.request(action, { gid, read: 1 })
      expect(reply, action).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    }

    await Promise.all([alice, bob, bobLaptop, carol].map((client) => client.settle()))
    expect(receipts(alice, gid)).toEqual([
      [bobIss, 4, 1],
      [bobIss, 4, 3],
    ])
    expect(receipts(carol, gid)).toEqual([
      [bobIss, 4, 1],
      [bobIss, 4, 4],
    ])
    expect(receipts(bobLaptop, gid)).toEqual([
      [bobIss, 4, 1],
      [bobIss, 4, 3],
      [bobIss, 4, 4],
    ])
    expect(receipts(bob, gid)).toEqual([])
  })

  it('counts unread messages from others in groups and lists the others’ positions', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = await groupOf(alice, bob, carol) // 1, 2
    await alice.ok('message', { gid, body: 'one' }) // 3
    await alice.ok('message', { gid, body: 'two' }) // 4
    await carol.ok('message', { gid, body: 'three' }) // 5
    const listing = async (client: TestClient) => {
      await indexCaughtUp()
      const { groups } = (await client.ok('groups')) as unknown as AckResults['groups']
      return groups
        .filter((g) => g.gid === gid)
        .map(({ status, read, unread, head }) => ({ status, read, unread, head }))
    }
    expect(await listing(bob)).toEqual([{ status: 'joined', read: 1, unread: 3, head: 5 }])
    expect(await listing(alice)).toEqual([{ status: 'joined', read: 0, unread: 1, head: 5 }])

    await bob.ok('receipt', { gid, read: 4 }) // while the head is 5
    expect(await listing(bob)).toEqual([{ status: 'joined', read: 4, unread: 1, head: 5 }])
    await alice.ok('message', { gid, body: 'four' }) // 6
    await carol.ok('receipt', { gid, read: 6 }) // while the head is 6
    expect(await listing(bob)).toEqual([{ status: 'joined', read: 4, unread: 2, head: 6 }])
    expect(await listing(carol)).toEqual([{ status: 'joined', read: 6, unread: 0, head: 6 }])

    const positions = async (client: TestClient, since?: number) => {
      const reply = (await client.ok('receipts', { gid, ...(since !== undefined && { since }) })) as unknown
      return (reply as AckResults['receipts']).receipts
    }
    const bobAt = { iss: bob.iss, delivered: 4, read: 4 }
    const carolAt = { iss: carol.iss, delivered: 6, read: 6 }
    expect(await positions(alice)).toEqual([bobAt, carolAt])
    expect(await positions(alice, 4)).toEqual([bobAt, carolAt])
    expect(await positions(alice, 5)).toEqual([carolAt])
    expect(await positions(alice, 6)).toEqual([])
    expect(await positions(bob)).toEqual([{ iss: alice.iss, delivered: 0, read: 0 }, carolAt])

    await carol.ok('leave', { gid })
    expect(await positions(alice)).toEqual([bobAt])
    expect(await listing(carol)).toEqual([])
  })
})

describe('bad input to the log’s actions', () => {
  it('answers each with exactly one BAD_REQUEST and changes nothing', async () => {
    const [alice] = await connect(unique('alice'))
    const gid = await soloGroup(alice)
    await alice.ok('message', { gid, body: 'one' })
    await alice.ok('message', { gid, body: 'two' })
    const before = await groupItems(gid)
    const framesBefore = alice.frames.length

    const cases: [string, Record<string, unknown>][] = [
      ['history', { gid, before: 2, after: 1 }],
      ['history', { gid, limit: 0 }],
      ['history', { gid, limit: 101 }],
      ['history', { gid, limit: 1.5 }],
      ['history', { gid, before: -1 }],
      ['history', { gid, before: 0 }],
      ['history', { gid, after: -1 }],
      ['history', { gid, after: 0.5 }],
      ['history', { gid, after: 3 }],
      ['receipt', { gid }],
      ['receipt', { gid, read: -1 }],
      ['receipt', { gid, delivered: 1.5 }],
      ['receipt', { gid, read: '1' }],
      ['receipts', { gid, since: -1 }],
      ['receipts', { gid, since: 0.5 }],
      ['edit', { gid, jti: 'x' }],
      ['delete', { gid }],
    ]
    for (const [action, fields] of cases) {
      const reply = await alice.request(action, fields)
      expect(reply, `${action} ${JSON.stringify(fields)}`).toMatchObject({
        type: 'error',
        code: 'BAD_REQUEST',
      })
    }
    await alice.settle()
    // One reply per case, then the settle's own.
    expect(alice.frames.slice(framesBefore)).toHaveLength(cases.length + 1)
    expect(await groupItems(gid)).toEqual(before)
  })
})

describe('retention', () => {
  it('gives every event and message marker a ttl of its event’s time plus 365 days, and nothing else', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await groupOf(alice, bob)
    await alice.ok('message', { gid, body: 'kept a year', jti: 'm' })
    await alice.ok('edit', { gid, jti: 'm', body: 'still a year' })
    await bob.ok('leave', { gid })

    const items = (await groupItems(gid)) as Record<string, unknown>[]
    const events = items.filter((item) => String(item.SK).startsWith('E#'))
    const expiry = (iat: unknown) => Date.parse(String(iat)) / 1000 + 365 * 24 * 60 * 60
    expect(events.map((e) => e.type)).toEqual(['chat.join', 'chat.message', 'chat.edit', 'chat.leave'])
    for (const event of events) {
      expect(Number.isInteger(event.ttl), String(event.SK)).toBe(true)
      expect(Math.abs(Number(event.ttl) - expiry(event.iat)), String(event.SK)).toBeLessThanOrEqual(1)
    }

    const markers = items.filter((item) => String(item.SK).startsWith('JTI#'))
    const message = events.find((e) => e.type === 'chat.message')
    expect(markers.map((m) => [m.SK, m.ttl])).toEqual([['JTI#m', message?.ttl]])
    // The group, its memberships and its recipients outlive any one event.
    const rest = items.filter((item) => !events.includes(item) && !markers.includes(item))
    expect(rest.map((item) => item.SK).sort()).toEqual(
      [`MEMBER#${alice.iss}`, `MEMBER#${bob.iss}`, 'META', 'RCPT', 'RCPT#00000'].sort(),
    )
    for (const item of rest) expect(item).not.toHaveProperty('ttl')
  })
})

describe('events too large to post', () => {
  it('refuses, before storing it, a message whose event JSON escaping would make too large to post', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await groupOf(alice, bob) // bob's join: 1
    // Not through the gateway: a frame this large would close the connection (1009) before any handler.
    const chat = new Chat({
      store: tableClient().store,
      objects: {} as ObjectStore,
      sender: { send: async () => 'sent' },
    })
    const body = '\u0001'.repeat(21_791) // 21,791 bytes, 130,746 once escaped
    const caller = { iss: alice.iss, connectionId: 'none' }
    await expect(chat.conversation.message(caller, { gid, body })).rejects.toMatchObject({
      code: 'TOO_LARGE',
    })
    const sent = await chat.conversation.message(caller, { gid, body: 'x'.repeat(limits.bodyBytes) })
    await expect(chat.conversation.edit(caller, { gid, jti: sent.jti, body })).rejects.toMatchObject({
      code: 'TOO_LARGE',
    })
    const events = (await groupItems(gid)) as { SK: string }[]
    expect(events.filter((item) => item.SK.startsWith('E#'))).toHaveLength(2)
  })

  it('still sends the other pending invites when one of them fails to post', async () => {
    const [alice] = await connect(unique('alice'))
    const erin = unique('erin')
    const [failing, small] = [unique('failing'), unique('small')]
    await alice.ok('invite', { gid: failing, name: 'Failing', members: [erin] })
    await alice.ok('invite', { gid: small, name: 'Small', members: [erin] })

    const [late] = await connect(erin)
    const [connectionId] = (await (await fetch(`${httpUrl()}/dev/connections?sub=${erin}`)).json())
      .connectionIds
    // Invites carry at most 50 members, so none is too large any more; a post can still fail.
    const fault = { connectionId, containing: failing, status: 413 }
    expect(
      (await fetch(`${httpUrl()}/dev/fail-posts`, { method: 'POST', body: JSON.stringify(fault) })).status,
    ).toBe(204)
    await indexCaughtUp()
    expect(await late.ok('sync')).toMatchObject({ invites: 1 })
    expect(late.events('chat.invite').map((e) => e.gid)).toEqual([small])
  })
})

describe('member lists and group lists that grow', () => {
  it('carries the first 50 members and a count in views and invites, and pages through the rest', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('big')
    const members = Array.from({ length: 119 }, (_, i) => `${gid}-m${String(i).padStart(3, '0')}`)
    await alice.ok('invite', { gid, name: 'Big', members: [bob.iss, ...members.slice(0, 49)] })
    await alice.ok('invite', { gid, name: 'Big', members: members.slice(49, 98) })
    const invited = await alice.ok('invite', { gid, name: 'Big', members: members.slice(98) })
    const view = invited.group as { members: unknown[]; memberCount: number }
    expect(view.members).toHaveLength(limits.membersInView)
    expect(view.memberCount).toBe(121)
    const invite = await bob.nextEvent('chat.invite', (e) => e.gid === gid)
    expect(invite.members).toHaveLength(limits.membersInView)
    expect(invite.memberCount).toBe(51)

    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = (await bob.ok('members', {
        gid,
        ...(cursor && { cursor }),
      })) as unknown as AckResults['members']
      expect(page.members.length).toBeLessThanOrEqual(limits.listPage)
      seen.push(...page.members.map((m) => m.iss))
      cursor = page.next
    } while (cursor)
    expect(seen).toEqual([...seen].sort())
    expect(new Set(seen)).toEqual(new Set([alice.iss, bob.iss, ...members]))
    const [mallory] = await connect(unique('mallory'))
    expect(await mallory.request('members', { gid })).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
  })

  it('lists the caller’s groups a page at a time', async () => {
    const [alice] = await connect(unique('alice'))
    const gids = Array.from({ length: limits.groupsPage + 3 }, () => unique('listed'))
    for (const gid of gids) await alice.ok('invite', { gid, name: 'Listed', members: [unique('friend')] })
    await indexCaughtUp()
    const first = (await alice.ok('groups')) as unknown as AckResults['groups']
    expect(first.groups).toHaveLength(limits.groupsPage)
    const second = (await alice.ok('groups', { cursor: first.next })) as unknown as AckResults['groups']
    expect(second.next).toBeUndefined()
    expect([...first.groups, ...second.groups].map((g) => g.gid)).toEqual([...gids].sort())
  })

  it('refuses to invite past the largest group size', async () => {
    const [alice] = await connect(unique('alice'))
    const chat = new Chat({
      store: tableClient().store,
      objects: {} as ObjectStore,
      sender: { send: async () => 'sent' },
      settings: { maxGroupSize: 3 },
    })
    const caller = { iss: alice.iss, connectionId: 'none' }
    const gid = unique('small')
    await expect(
      chat.membership.invite(caller, { gid, name: 'S', members: ['a', 'b', 'c'] }),
    ).rejects.toMatchObject({
      code: 'TOO_LARGE',
    })
    await chat.membership.invite(caller, { gid, name: 'S', members: ['a', 'b'] })
    await expect(chat.membership.invite(caller, { gid, name: 'S', members: ['c'] })).rejects.toMatchObject({
      code: 'TOO_LARGE',
    })
  })
})
