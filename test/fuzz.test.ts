import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { tableSchema } from '../lambdas/adapters/table-schema.js'
import { connector } from './support/clients.js'
import { groupItems, unique } from './support/huddle.js'

const connect = connector()

describe('fuzzed client frames', () => {
  it('answers every frame exactly once, never crashes and keeps membership consistent', async () => {
    const identities = [unique('fa'), unique('fb'), unique('fc')]
    const gids = [unique('fz1'), unique('fz2')]
    const clients = await connect(...identities)

    const identity = fc.oneof(fc.constantFrom(...identities), fc.string({ maxLength: 140 }), fc.integer())
    const gid = fc.oneof(fc.constantFrom(...gids), fc.string({ maxLength: 140 }), fc.constant(null))
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()))
    const frame = fc.record(
      {
        action: fc.oneof(
          fc.constantFrom('invite', 'join', 'leave', 'message', 'sync', 'groups', 'avatar'),
          fc.string(),
          field,
        ),
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
        iss: identity,
      },
      { requiredKeys: [] },
    )
    const plausible = fc.record({
      action: fc.constantFrom('invite', 'join', 'leave', 'message', 'sync', 'groups'),
      gid: fc.constantFrom(...gids),
      name: fc.constant('Fuzzed'),
      members: fc.subarray(identities, { minLength: 1 }),
      body: fc.string({ minLength: 1, maxLength: 50 }),
    })
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
        expect(['ack', 'BAD_REQUEST', 'FORBIDDEN', 'NOT_FOUND', 'TOO_LARGE']).toContain(outcome)
      }),
      { numRuns: 1000 },
    )
    // The frames reached the rules, not only the validation.
    expect(outcomes.get('ack')).toBeGreaterThan(50)
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
      expect(items.some((item) => item.SK === 'META')).toBe(true)
      expect(members.filter((m) => m.role === 'admin')).toHaveLength(1)
      for (const member of members) {
        expect(['invited', 'joined']).toContain(member.status)
        expect(member.SK).toBe(`MEMBER#${member.iss}`)
        expect(member[tableSchema.userIndex.partitionKey]).toBe(`USER#${member.iss}`)
        expect(identities).toContain(member.iss)
      }
    }
  })
})
