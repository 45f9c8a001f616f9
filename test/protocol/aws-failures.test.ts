import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../local/gateway.js'
import { connector } from '../support/clients.js'
import { ownGateway } from '../support/gateways.js'
import { unique } from '../support/huddle.js'

// A gateway of its own on the shared emulators, failing the way AWS fails and more often: one in twenty of the
// transactions cancelled with TransactionConflict at random, on top of the overlaps DynamoDB would cancel,
// every eventually consistent read missing the last second of writes, and S3's 403 for a missing key to a
// function that may not list the bucket.
let gateway: Gateway
const connect = connector(() => gateway.url)
beforeAll(async () => {
  gateway = await ownGateway({
    aws: { conflictRate: 0.05, transactionWindowMs: 15, staleReadLagMs: 1000, staleReadRate: 1 },
  })
})
afterAll(() => gateway?.close())

describe('failing the way AWS fails', () => {
  it('answers concurrent messages, joins, receipts and connects in one group with no INTERNAL, losing nothing', async () => {
    const aliceId = unique('alice')
    const [alice, bob, carol, dave] = await connect(aliceId, unique('bob'), unique('carol'), unique('dave'))
    const gid = unique('busy')
    await alice.ok('invite', { gid, name: 'Busy', members: [bob.iss, carol.iss, dave.iss] })
    await alice.ok('message', { gid, body: 'first' })
    const before = { ...gateway.aws.counters }

    const replies = await Promise.all([
      ...[bob, carol, dave].map((client) => client.request('join', { gid })),
      ...Array.from({ length: 6 }, (_, i) => alice.request('message', { gid, body: `m${i}` })),
      alice.request('receipt', { gid, read: 1 }),
      ...[1, 2].map(async (n) => {
        // More connections of a member: each $connect updates the user's connections as the group moves.
        const [again] = await connect(aliceId)
        return again?.request('message', { gid, body: `from connection ${n}` })
      }),
    ])
    expect(replies.filter((reply) => reply?.type !== 'ack')).toEqual([])
    const injected = gateway.aws.counters
    expect(
      injected.injectedConflicts +
        injected.overlapConflicts -
        before.injectedConflicts -
        before.overlapConflicts,
    ).toBeGreaterThan(0)

    const history = await alice.ok('history', { gid })
    const bodies = (history.events as { type: string; body?: string }[])
      .filter((event) => event.type === 'chat.message')
      .map((event) => event.body)
    expect(bodies).toHaveLength(9)
    const members = await alice.ok('members', { gid })
    expect(JSON.stringify(members)).toContain(dave.iss)
  })

  it('delivers a message sent right after a join to the joiner, and one sent right after a connect to the new connection', async () => {
    const bobId = unique('bob')
    const [alice, bob] = await connect(unique('alice'), bobId)
    const gid = unique('fresh')
    await alice.ok('invite', { gid, name: 'Fresh', members: [bob.iss] })
    // Once the replica has the group, a stale read shows it as it was before the join, not as no group.
    await new Promise((done) => setTimeout(done, 1100))
    await bob.ok('join', { gid })
    const afterJoin = await alice.ok('message', { gid, body: 'right after the join' })
    const [again] = await connect(bobId)
    const afterConnect = await alice.ok('message', { gid, body: 'right after the connect' })
    await Promise.all([bob.settle(), again.settle()])
    expect(bob.events('chat.message', gid).map((event) => event.seq)).toEqual([
      afterJoin.seq,
      afterConnect.seq,
    ])
    expect(again.events('chat.message', gid).map((event) => event.seq)).toEqual([afterConnect.seq])
  })

  it('answers NOT_FOUND for an upload never made, which S3 answers 403', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('missing')
    await alice.ok('invite', { gid, name: 'Missing', members: [bob.iss] })
    const before = gateway.aws.counters.missingKeyDenials
    const file = await alice.uploadAttachment(gid, randomBytes(10), {
      name: 'a.bin',
      mime: 'application/pdf',
    })
    const never = { ...file, key: String((await alice.ok('attachment', { gid, size: 10 })).key) }
    expect(await alice.request('message', { gid, body: 'x', attachments: [never] })).toMatchObject({
      code: 'NOT_FOUND',
    })
    expect(gateway.aws.counters.missingKeyDenials).toBeGreaterThan(before)
  })
})
