import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { tableSchema } from '../../lambdas/adapters/dynamo/table-schema.js'
import { connector } from '../support/clients.js'
import { groupItems, unique } from '../support/huddle.js'

const connect = connector()
const actions = [
  'invite',
  'join',
  'leave',
  'message',
  'edit',
  'delete',
  'react',
  'history',
  'receipt',
  'receipts',
  'sync',
  'groups',
  'remove',
  'update',
  'role',
  'ban',
  'unban',
  'bans',
  'deleteGroup',
  'attachment',
  'download',
  'keys',
  'claim',
  'commit',
  'roster',
  'typing',
] as const
const field0 = () => fc.oneof(fc.string(), fc.boolean(), fc.constant(null))

describe('fuzzed client frames', () => {
  it('answers every frame exactly once, never crashes and keeps membership consistent', async () => {
    const identities = [unique('fa'), unique('fb'), unique('fc')]
    const gids = [unique('fz1'), unique('fz2')]
    const clients = await connect(...identities)

    const identity = fc.oneof(fc.constantFrom(...identities), fc.string({ maxLength: 140 }), fc.integer())
    const gid = fc.oneof(fc.constantFrom(...gids), fc.string({ maxLength: 140 }), fc.constant(null))
    // A few shared message ids, so edits and deletes find messages, some of them someone else's.
    const jtis = ['m1', 'm2', 'm3', 'm4']
    const seq = fc.oneof(fc.nat({ max: 40 }), fc.integer(), fc.double(), field0())
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()))
    const frame = fc.record(
      {
        action: fc.oneof(fc.constantFrom(...actions, 'avatar'), fc.string(), field),
        id: fc.oneof(fc.string({ maxLength: 70 }), fc.integer()),
        gid,
        name: fc.oneof(fc.string({ maxLength: 140 }), field),
        members: fc.oneof(fc.array(identity, { maxLength: 6 }), field),
        body: fc.oneof(fc.string({ maxLength: 200 }), field),
        jti: fc.oneof(fc.uuid(), field),
        rid: field,
        mime: fc.oneof(fc.constantFrom('image/png', 'text/plain'), field),
        size: fc.oneof(fc.integer(), field),
        avatar: fc.oneof(fc.record({ key: fc.string() }), field),
        before: seq,
        after: seq,
        limit: seq,
        delivered: seq,
        read: seq,
        since: seq,
        cursor: fc.oneof(identity, field),
        iss: identity,
        role: fc.oneof(fc.constantFrom('admin', 'member'), field),
        invites: fc.oneof(fc.constantFrom('admins', 'members'), field),
        target: seq,
        emoji: fc.oneof(fc.constantFrom('👍', '🎉'), fc.string({ maxLength: 40 }), field),
        remove: fc.oneof(fc.boolean(), field),
      },
      { requiredKeys: [] },
    )
    const plausible = fc.record(
      {
        action: fc.constantFrom(...actions),
        gid: fc.constantFrom(...gids),
        name: fc.constant('Fuzzed'),
        members: fc.subarray(identities, { minLength: 1 }),
        body: fc.string({ minLength: 1, maxLength: 50 }),
        jti: fc.constantFrom(...jtis),
        after: fc.nat({ max: 30 }),
        read: fc.nat({ max: 30 }),
        delivered: fc.nat({ max: 30 }),
        iss: fc.constantFrom(...identities),
        role: fc.constantFrom('admin', 'member'),
        invites: fc.constantFrom('admins', 'members'),
        target: fc.nat({ max: 30 }),
        emoji: fc.constantFrom('👍', '🎉', '❤️'),
        remove: fc.boolean(),
      },
      { requiredKeys: ['action', 'gid', 'name', 'members', 'body'] },
    )
    const text = fc.oneof(
      { weight: 4, arbitrary: plausible.map((f) => JSON.stringify(f)) },
      { weight: 4, arbitrary: frame.map((f) => JSON.stringify(f)) },
      { weight: 1, arbitrary: fc.string() },
      { weight: 1, arbitrary: fc.json() },
    )

    const outcomes = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: clients.length - 1 }), text, async (who, data) => {
        const reply = await clients[who]?.sendRaw(data)
        const outcome = reply?.type === 'error' ? String(reply.code) : String(reply?.type)
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
        expect([
          'ack',
          'BAD_REQUEST',
          'FORBIDDEN',
          'NOT_FOUND',
          'TOO_LARGE',
          'CONFLICT',
          'RATE_LIMITED',
        ]).toContain(outcome)
        // The one conflict a fuzzer may cause: a message id another member's message already has.
        if (outcome === 'CONFLICT') expect(reply?.message).toMatch(/jti \S+ is taken/)
        // Three identities sending as fast as they can may outrun their rate limits, as documented.
        if (outcome === 'RATE_LIMITED') expect(reply?.retryAfter).toBeGreaterThan(0)
      }),
      { numRuns: 1000 },
    )
    // The frames reached the rules, not only the validation (how many pass depends on the draw and on how
    // many of them the rate limits turn away on a given machine).
    const pastValidation = ['ack', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT']
    expect(outcomes.get('ack')).toBeGreaterThan(25)
    expect(pastValidation.reduce((sum, outcome) => sum + (outcomes.get(outcome) ?? 0), 0)).toBeGreaterThan(
      100,
    )
    expect(outcomes.get('FORBIDDEN')).toBeGreaterThan(0)

    let replies = 0
    for (const client of clients) {
      await client.settle()
      expect(client.socket.readyState).toBe(client.socket.OPEN)
      replies +=
        client.frames.filter((f) => ['ack', 'error'].includes((f as { type: string }).type)).length - 1
    }
    expect(replies).toBe(1000)

    for (const g of gids) {
      const items = (await groupItems(g)) as Record<string, string>[]
      const members = items.filter((item) => item.SK?.startsWith('MEMBER#'))
      if (members.length === 0) continue
      const meta = items.find((item) => item.SK === 'META')
      expect(meta).toBeDefined()
      // The group's log has no holes: events 1 to the head, each stored once.
      const seqs = items.filter((item) => item.SK?.startsWith('E#')).map((item) => Number(item.seq))
      expect(seqs).toEqual(Array.from({ length: Number(meta?.seq) }, (_, i) => i + 1))
      // Whoever has joined has an admin among them: the creator, one made admin, or a successor.
      const joined = members.filter((m) => m.status === 'joined')
      if (joined.length > 0) expect(joined.some((m) => m.role === 'admin')).toBe(true)
      for (const member of members) {
        expect(['invited', 'joined', 'left']).toContain(member.status)
        expect(member.SK).toBe(`MEMBER#${member.iss}`)
        expect(identities).toContain(member.iss)
        // A banned identity is out; every membership is in its identity's index, but for the record of
        // a ban of one that never was a member.
        if (member.bannedBy !== undefined) expect(member.status).toBe('left')
        const everMember = member.status !== 'left' || member.leaveSeq !== undefined
        if (everMember) expect(member[tableSchema.userIndex.partitionKey]).toBe(`USER#${member.iss}`)
      }
    }
  })
})
