import type { ChatEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { type TestClient, tableClient, unique } from '../support/huddle.js'
import { purgeEnded } from '../support/purges.js'

const connect = connector()
const { store } = tableClient()

/** The seqs at which each identity was joined, from a group's log: after each join, up to its departure. */
function joinedAt(events: ChatEvent[]): (iss: string, seq: number) => boolean {
  const windows = new Map<string, [number, number][]>()
  for (const event of events) {
    if (!('seq' in event) || event.seq === undefined || !('iss' in event)) continue
    const mine = windows.get(event.iss) ?? []
    if (event.type === 'chat.join') mine.push([event.seq, Number.POSITIVE_INFINITY])
    const open = mine.at(-1)
    if ((event.type === 'chat.leave' || event.type === 'chat.ban') && open) open[1] = event.seq
    windows.set(event.iss, mine)
  }
  return (iss, seq) => (windows.get(iss) ?? []).some(([after, through]) => seq > after && seq < through)
}

/** Sends until the answer is not CONFLICT, as a client does (a message keeps its jti). */
async function answered(client: TestClient, action: string, fields: Record<string, unknown>) {
  for (let attempt = 1; ; attempt++) {
    const reply = await client.request(action, fields)
    if (reply.type !== 'error' || reply.code !== 'CONFLICT' || attempt === 10) return reply
  }
}

describe('recipients kept in compact shards', () => {
  it('delivers each message to exactly the members joined at its seq, under concurrent joins, leaves and connects', async () => {
    // More members than one shard holds, so that the group's recipients span shards.
    const ids = Array.from({ length: 104 }, (_, i) => unique(`m${i}`))
    const [owner, ...members] = await connect(unique('owner'), ...ids)
    const gid = unique('exact')
    for (let i = 0; i < ids.length; i += 50) {
      await owner.ok('invite', { gid, name: 'Exact', members: ids.slice(i, i + 50) })
    }
    const [stayers, leavers, joiners] = [members.slice(0, 96), members.slice(96, 100), members.slice(100)]
    const first = [...stayers, ...leavers]
    for (let i = 0; i < first.length; i += 10) {
      await Promise.all(first.slice(i, i + 10).map((member) => answered(member, 'join', { gid })))
    }
    expect((await store.readRecipients(gid))?.connections.size).toBe(101)

    const senders = stayers.slice(0, 2)
    const reconnecting = stayers.slice(2, 4)
    const late: TestClient[] = []
    const replies = await Promise.all([
      ...senders.flatMap((sender, s) =>
        Array.from({ length: 4 }, (_, i) =>
          answered(sender, 'message', { gid, jti: unique('m'), body: `s${s}-${i}` }),
        ),
      ),
      ...leavers.map((member) => answered(member, 'leave', { gid })),
      ...joiners.map((member) => answered(member, 'join', { gid })),
      ...reconnecting.map(async (member) => {
        const [again] = await connect(member.iss)
        late.push(again)
        return answered(again, 'message', { gid, jti: unique('m'), body: `from ${member.iss}` })
      }),
    ])
    expect(replies.filter((reply) => reply.type !== 'ack')).toEqual([])
    await Promise.all([owner, ...members, ...late].map((client) => client.settle()))

    const history: ChatEvent[] = []
    for (let after = 0; ; ) {
      const page = (await owner.ok('history', { gid, after, limit: 100 })).events as ChatEvent[]
      if (page.length === 0) break
      history.push(...page)
      after = Math.max(...page.map((event) => ('seq' in event ? (event.seq ?? 0) : 0)))
    }
    const joined = joinedAt(history)
    const messages = history.filter((event) => event.type === 'chat.message')
    expect(messages).toHaveLength(senders.length * 4 + reconnecting.length)
    // Every connection open throughout got each message sent while its member was joined (but its own),
    // and nothing else; a connection opened meanwhile got no message its member was not joined at.
    for (const client of members) {
      const expected = messages
        .filter((m) => joined(client.iss, m.seq) && !(m.iss === client.iss && senders.includes(client)))
        .map((m) => m.seq)
      const got = client.events('chat.message', gid).map((event) => event.seq)
      expect({ iss: client.iss, got: got.sort((a, b) => a - b) }).toEqual({ iss: client.iss, got: expected })
    }
    for (const client of late) {
      for (const event of client.events('chat.message', gid)) expect(joined(client.iss, event.seq)).toBe(true)
    }
    const now = await store.readRecipients(gid)
    expect([...(now?.connections.keys() ?? [])].sort()).toEqual(
      [owner, ...stayers, ...joiners].map((client) => client.iss).sort(),
    )
  })

  it('delivers a new group under a deleted group’s gid to its own members, not to the old group’s', async () => {
    const [alice, bob, carol, dave] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
    )
    const gid = unique('again')
    await alice.ok('invite', { gid, name: 'Old', members: [bob.iss] })
    await bob.ok('join', { gid })
    // The functions now hold the old group's shards.
    await alice.ok('message', { gid, body: 'old' })
    await alice.ok('deleteGroup', { gid })
    await purgeEnded(gid)
    await carol.ok('invite', { gid, name: 'New', members: [dave.iss] })
    await dave.ok('join', { gid })
    const sent = await carol.ok('message', { gid, body: 'new' })
    await dave.nextEvent('chat.message', (event) => event.jti === sent.jti)
    await Promise.all([alice.settle(), bob.settle()])
    expect(bob.events('chat.message', gid).map((event) => event.body)).toEqual(['old'])
    expect(alice.events('chat.message', gid)).toEqual([])
  })
})
