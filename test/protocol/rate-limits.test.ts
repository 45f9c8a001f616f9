import { GetCommand } from '@aws-sdk/lib-dynamodb'
import type { WebSocketConstructor } from '@huddle/client'
import type { ChatEvent } from '@huddle/client/protocol'
import { describe, expect, inject, it } from 'vitest'
import WebSocket from 'ws'
import { keys } from '../../lambdas/adapters/dynamo/keys.js'
import { DynamoRateBuckets } from '../../lambdas/adapters/dynamo/rate-buckets.js'
import { DynamoTable } from '../../lambdas/adapters/dynamo/table.js'
import { defaultRateLimits } from '../../lambdas/core/rate-limits.js'
import { emulatorDynamoClient } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'
import { connector, joinedGroup } from '../support/clients.js'
import { tableClient, unique } from '../support/huddle.js'
import { participant, waitFor } from '../support/sdk.js'

const connect = connector()
// The local stack runs with the deployed defaults.
const { messages, writes } = defaultRateLimits
const interval = 1 / messages.perSecond
const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000))

/** The most tokens a bucket can have handed out over `seconds`: a full burst, plus what refilled meanwhile. */
const mostTaken = (limit: { perSecond: number; burst: number }, seconds: number) =>
  limit.burst + Math.ceil(seconds * limit.perSecond) + 1

type Reply = Record<string, unknown>

/**
 * Sends every request at once, pipelined, so that they meet the bucket together however slow the machine
 * is; the replies, split, and how long until the last one came.
 */
async function atOnce(requests: (() => Promise<Reply>)[]) {
  const startedAt = performance.now()
  const replies = await Promise.all(requests.map((send) => send()))
  return {
    replies,
    accepted: replies.filter((reply) => reply.type === 'ack'),
    refused: replies.filter((reply) => reply.type === 'error'),
    seconds: (performance.now() - startedAt) / 1000,
  }
}

/** The events' jtis in seq order: concurrent fan-outs may arrive out of it, and clients order by seq. */
const bySeq = (events: { jti: string; seq: number }[]) =>
  [...events].sort((a, b) => a.seq - b.seq).map((e) => e.jti)

describe('per-identity rate limits', () => {
  it('accept a burst of messages, then answer RATE_LIMITED with when to retry, and accept the retry then', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await joinedGroup('Limited', alice, bob)

    const jtis = Array.from({ length: messages.burst + 10 }, (_, n) => `m${n}`)
    const { replies, accepted, refused, seconds } = await atOnce(
      jtis.map((jti) => () => alice.request('message', { gid, body: jti, jti })),
    )
    // A whole burst goes through at once; beyond it, only what refilled while they were handled.
    expect(accepted.length).toBeGreaterThanOrEqual(messages.burst)
    expect(accepted.length).toBeLessThanOrEqual(mostTaken(messages, seconds))
    expect(refused.length).toBeGreaterThan(0)
    for (const refusal of refused) {
      expect(refusal).toMatchObject({ type: 'error', code: 'RATE_LIMITED', id: expect.any(String) })
      expect(refusal.message).toMatch(/at most 5 messages a second, in bursts of up to 20/)
      expect(refusal.retryAfter).toBeGreaterThan(0)
      // One interval from when the server read its clock for it: concurrent requests read it a little apart.
      expect(refusal.retryAfter).toBeLessThanOrEqual(interval + seconds)
    }

    // A refused message was not stored: its jti is free, and waiting as told lets it through.
    const index = replies.findIndex((reply) => reply.type === 'error')
    const retried = jtis[index] as string
    await sleep(replies[index]?.retryAfter as number)
    expect(await alice.request('message', { gid, body: retried, jti: retried })).toMatchObject({
      type: 'ack',
      jti: retried,
      seq: accepted.length + 2,
      duplicate: false,
    })

    // bob got every accepted message once, and the retried one after them.
    await bob.settle()
    const received = bySeq(bob.events('chat.message', gid))
    expect(received.slice(0, -1).sort()).toEqual(accepted.map((ack) => String(ack.jti)).sort())
    expect(received.at(-1)).toBe(retried)
    expect(
      bob
        .events('chat.message', gid)
        .map((e) => e.seq)
        .sort((a, b) => a - b),
    ).toEqual(received.map((_, n) => n + 2))
  })

  it('share one bucket between an identity’s connections and between messages, edits and deletes', async () => {
    const aliceIss = unique('alice')
    const [alice, aliceElsewhere, bob] = await connect(aliceIss, aliceIss, unique('bob'))
    const gid = await joinedGroup('Limited', alice, bob)
    await alice.ok('message', { gid, body: 'to edit', jti: 'edited' })
    await alice.ok('message', { gid, body: 'to delete', jti: 'deleted' })

    // Messages from one connection, edits and a delete from the other, each action in a function of its
    // own: no connection and no function alone goes past a burst, together they do.
    const { accepted, refused, seconds } = await atOnce([
      ...Array.from(
        { length: messages.burst - 2 },
        (_, n) => () => alice.request('message', { gid, body: `more ${n}` }),
      ),
      ...Array.from(
        { length: messages.burst - 2 },
        (_, n) => () => aliceElsewhere.request('edit', { gid, jti: 'edited', body: `edit ${n}` }),
      ),
      () => aliceElsewhere.request('delete', { gid, jti: 'deleted' }),
    ])
    expect(refused.length).toBeGreaterThan(0)
    // Past the burst each is RATE_LIMITED; one may instead lose the race for the group's head to the others
    // (CONFLICT, which the SDK resends), as concurrent writes to one group do on AWS.
    for (const refusal of refused) expect(['RATE_LIMITED', 'CONFLICT']).toContain(refusal.code)
    expect(refused.filter((refusal) => refusal.code === 'RATE_LIMITED').length).toBeGreaterThan(0)
    expect(2 + accepted.length).toBeLessThanOrEqual(mostTaken(messages, seconds))

    // Other writes draw from a bucket of their own, and reads from none.
    expect(await aliceElsewhere.request('receipt', { gid, read: 2 })).toMatchObject({ type: 'ack' })
    expect(await alice.request('history', { gid })).toMatchObject({ type: 'ack' })
  })

  it('leave other identities alone, and lose or repeat nothing for the members meanwhile', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = await joinedGroup('Limited', alice, bob, carol)

    // alice sends at once more than a burst and what refills while it is handled, even on a busy machine;
    // bob keeps talking in the same group meanwhile.
    const flood = Array.from({ length: messages.burst + 20 }, (_, n) =>
      alice.request('message', { gid, body: `a${n}`, jti: `a${n}` }),
    )
    const talk = Array.from({ length: 5 }, (_, n) =>
      bob.request('message', { gid, body: `b${n}`, jti: `b${n}` }),
    )
    const [flooded, talked] = await Promise.all([Promise.all(flood), Promise.all(talk)])
    expect(talked.map((reply) => reply.type)).toEqual(talk.map(() => 'ack'))
    const refused = flooded.filter((reply) => reply.type === 'error')
    expect(refused.length).toBeGreaterThan(0)
    for (const reply of refused) expect(reply).toMatchObject({ code: 'RATE_LIMITED' })

    const stored = [...flooded, ...talked].filter((reply) => reply.type === 'ack')
    const inOrder = stored.map((ack) => String(ack.jti)).sort((a, b) => seqOf(stored, a) - seqOf(stored, b))
    await Promise.all([bob.settle(), carol.settle()])
    // Each exactly once: carol, who sent nothing, got every stored message; bob every one but his own.
    expect(bySeq(carol.events('chat.message', gid))).toEqual(inOrder)
    expect(bySeq(bob.events('chat.message', gid))).toEqual(inOrder.filter((jti) => jti.startsWith('a')))
    const history = await carol.ok('history', { gid, after: 2, limit: 100 })
    expect((history.events as ChatEvent[]).map((e) => ('jti' in e ? e.jti : e.type))).toEqual(inOrder)
  })

  it('limit receipts (and invites, joins, leaves, avatars) on a writes bucket of their own', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await joinedGroup('Limited', alice, bob)
    const { accepted, refused, seconds } = await atOnce(
      Array.from({ length: writes.burst + 20 }, () => () => bob.request('receipt', { gid, delivered: 1 })),
    )
    expect(accepted.length).toBeGreaterThanOrEqual(writes.burst - 1) // bob's join took one
    expect(accepted.length).toBeLessThanOrEqual(mostTaken(writes, seconds))
    expect(refused.length).toBeGreaterThan(0)
    for (const refusal of refused) {
      expect(refusal).toMatchObject({ code: 'RATE_LIMITED' })
      expect(refusal.retryAfter).toBeLessThanOrEqual(1 / writes.perSecond + seconds)
    }
    // Messages draw from the other bucket.
    expect(await bob.request('message', { gid, body: 'still talking' })).toMatchObject({ type: 'ack' })
  })
})

describe('the token bucket in DynamoDB', () => {
  const limit = { perSecond: 5, burst: 20 }

  it('hands out exactly a burst to two store instances taking tokens at once, then one per interval', async () => {
    const [one, other] = [tableClient().store, tableClient().store]
    const iss = unique('racer')
    const at = new Date()
    const answers = await Promise.all(
      Array.from({ length: 2 * limit.burst }, (_, n) =>
        (n % 2 === 0 ? one : other).takeToken(iss, 'messages', limit, at),
      ),
    )
    expect(answers.filter((wait) => wait === undefined)).toHaveLength(limit.burst)
    // Refused at the same instant: the next token is one interval away.
    for (const wait of answers.filter((wait) => wait !== undefined)) expect(wait).toBe(0.2)

    const later = (ms: number) => new Date(at.getTime() + ms)
    expect(await one.takeToken(iss, 'messages', limit, later(199))).toBe(0.001)
    expect(await one.takeToken(iss, 'messages', limit, later(200))).toBeUndefined()
    expect(await other.takeToken(iss, 'messages', limit, later(200))).toBe(0.2)
    // Another bucket and another identity have their own.
    expect(await other.takeToken(iss, 'writes', limit, later(200))).toBeUndefined()
    expect(await other.takeToken(unique('other'), 'messages', limit, later(200))).toBeUndefined()
    // Idle for a whole burst's worth of intervals, it is full again.
    const idle = later(200 + limit.burst * 200)
    const refill = await Promise.all(
      Array.from({ length: limit.burst + 1 }, () => one.takeToken(iss, 'messages', limit, idle)),
    )
    expect(refill.filter((wait) => wait === undefined)).toHaveLength(limit.burst)
  })

  it('takes a token inside a burst in one write, and refuses without a write when it knows the bucket is empty', async () => {
    let updates = 0
    const client = emulatorDynamoClient(inject('dynamoEndpoint'), (_call, next) => {
      updates++
      return next()
    })
    const store = new DynamoRateBuckets(new DynamoTable(client, localNames.table))
    const iss = unique('steady')
    const at = new Date()
    for (let n = 0; n < limit.burst; n++) {
      expect(await store.takeToken(iss, 'messages', limit, at)).toBeUndefined()
    }
    expect(updates).toBe(limit.burst)
    expect(await store.takeToken(iss, 'messages', limit, at)).toBe(0.2)
    expect(updates).toBe(limit.burst)
    // Another instance's takes are news to this one: it learns of them from the refused update.
    await tableClient().store.takeToken(iss, 'messages', limit, new Date(at.getTime() + 200))
    expect(await store.takeToken(iss, 'messages', limit, new Date(at.getTime() + 300))).toBe(0.1)
    expect(updates).toBe(limit.burst + 1)
    client.close()
  })

  it('keeps fractional rates exact and lets the item expire once the bucket is full again', async () => {
    const { store, db, tableName } = tableClient()
    const iss = unique('slow')
    const slow = { perSecond: 3, burst: 2 }
    const at = new Date()
    expect(await store.takeToken(iss, 'messages', slow, at)).toBeUndefined()
    expect(await store.takeToken(iss, 'messages', slow, at)).toBeUndefined()
    expect(await store.takeToken(iss, 'messages', slow, at)).toBe(0.334)
    const { Item } = await db.send(
      new GetCommand({ TableName: tableName, Key: keys.rateBucket(iss, 'messages') }),
    )
    expect(Item?.tat).toBeCloseTo(at.getTime() + 2000 / 3, 2)
    expect(Item?.ttl).toBeGreaterThanOrEqual(Math.ceil((at.getTime() + 2000 / 3) / 1000))
    expect(Item?.ttl).toBeLessThanOrEqual(Math.ceil(at.getTime() / 1000) + 2)
  })
})

describe('the SDK under the rate limit', () => {
  it('waits and retries by itself: every message stored once, in order, and the others get each once', async () => {
    const replies: { type?: string; code?: string }[] = []
    /** A WebSocket that also notes every frame the server sends, to see the refusals the SDK absorbed. */
    const Recording = class extends WebSocket {
      constructor(url: string) {
        super(url)
        this.addEventListener('message', (event) => replies.push(JSON.parse(String(event.data))))
      }
    } as unknown as WebSocketConstructor
    const errors: unknown[] = []
    const alice = await participant(unique('alice'), { WebSocket: Recording, onError: (e) => errors.push(e) })
    const bob = await participant(unique('bob'))
    const gid = unique('patient')
    const group = await alice.chat.invite(gid, 'Patient', [bob.sub])
    await bob.chat.join(gid)

    // alice's other device has just spent her burst: however fast this machine answers, the app's
    // messages now meet the limit.
    const [elsewhere] = await connect(alice.sub)
    const spent = await Promise.all(
      Array.from({ length: messages.burst + 5 }, (_, n) =>
        elsewhere.request('message', { gid, body: `elsewhere ${n}` }),
      ),
    )
    const before = spent.filter((reply) => reply.type === 'ack').length
    expect(before).toBeGreaterThanOrEqual(messages.burst)

    const bodies = Array.from({ length: messages.burst + 10 }, (_, n) => `message ${n}`)
    const sent = await Promise.all(bodies.map((body) => group.message(body)))

    expect(replies.filter((r) => r.code === 'RATE_LIMITED').length).toBeGreaterThan(0)
    expect(errors).toEqual([])
    expect(sent.map((receipt) => receipt.duplicate)).toEqual(bodies.map(() => false))
    // Stored once each, in call order: the seqs follow the join (1) and the other device's one by one.
    expect(sent.map((receipt) => receipt.seq)).toEqual(bodies.map((_, n) => before + n + 2))
    // bob is handed each once, in the group's order: the other device's messages, then these.
    await waitFor(() => expect(bob.messages).toHaveLength(before + bodies.length))
    expect(bob.messages.map((m) => m.seq)).toEqual(bob.messages.map((_, n) => n + 2))
    expect(bob.messages.slice(before).map((m) => [m.jti, m.body])).toEqual(
      sent.map((receipt, n) => [receipt.jti, bodies[n]]),
    )
  })
})

function seqOf(acks: Record<string, unknown>[], jti: string): number {
  return Number(acks.find((ack) => ack.jti === jti)?.seq)
}
