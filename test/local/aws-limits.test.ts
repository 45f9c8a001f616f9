import { randomUUID } from 'node:crypto'
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi'
import { ChatClient, type ConnectOptions } from '@huddle/client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SignedPostSender, throttleBackoffMs } from '../../lambdas/adapters/management-api.js'
import {
  type AwsBehaviours,
  awsLikeBehaviours,
  behavioursFromEnvironment,
} from '../../local/aws-behaviours.js'
import { closeDevConnection } from '../../local/dev-tokens.js'
import { ConcurrencyLimit } from '../../local/functions.js'
import { TokenBucket } from '../../local/gateway/limits.js'
import type { Gateway } from '../../local/gateway.js'
import { functionCredentials, localAccount } from '../../local/grants.js'
import { connector } from '../support/clients.js'
import { ownGateway } from '../support/gateways.js'
import { handshakeStatus, type TestClient, tokenFor, unique } from '../support/huddle.js'
import { waitFor } from '../support/sdk.js'

// A gateway of its own on the shared emulators, AWS-like, each case turning one of API Gateway's or
// Lambda's limits down (the gateway reads them at each request) and back up after it. Every fan-out goes
// through the fan-out worker (slices of one connection), so that Lambda's asynchronous path meets them too.
let gateway: Gateway
const connect = connector(() => gateway.url)
beforeAll(async () => {
  gateway = await ownGateway({ settings: { fanOutSliceSize: 1 } })
})
afterEach(() => {
  Object.assign(gateway.aws.behaviours, awsLikeBehaviours)
})
const sdkClients: ChatClient[] = []
afterAll(async () => {
  await Promise.all(sdkClients.splice(0).map((client) => client.close()))
  await gateway?.close()
})

const limit = (overrides: Partial<AwsBehaviours>) => Object.assign(gateway.aws.behaviours, overrides)
const counters = () => ({ ...gateway.aws.counters })
const wsUrl = () => gateway.url.replace(/^http/, 'ws')
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

async function sdk(sub: string, options: Partial<ConnectOptions> = {}): Promise<ChatClient> {
  const client = await ChatClient.connect(wsUrl(), {
    token: () => tokenFor(sub, undefined, gateway.url),
    reconnect: { minDelayMs: 20, maxDelayMs: 500 },
    onError: () => {},
    ...options,
  })
  sdkClients.push(client)
  return client
}

async function connectionIdOf(sub: string): Promise<string> {
  const response = await fetch(`${gateway.url}/dev/connections?sub=${encodeURIComponent(sub)}`)
  const { connectionIds } = (await response.json()) as { connectionIds: string[] }
  expect(connectionIds).toHaveLength(1)
  return connectionIds[0] as string
}

/** The next `count` invocations of `fn` start `ms` late. */
async function slow(fn: string, ms: number, count = 1): Promise<void> {
  const response = await fetch(`${gateway.url}/dev/slow-invocations`, {
    method: 'POST',
    body: JSON.stringify({ function: fn, ms, count }),
  })
  expect(response.status).toBe(204)
}

/** A group `owner` made with `members`, every one joined. */
async function group(owner: TestClient | ChatClient, members: TestClient[]): Promise<string> {
  const gid = unique('limits')
  const invite = { gid, name: 'Limits', members: members.map((m) => m.iss) }
  if ('ok' in owner) await owner.ok('invite', invite)
  else await owner.request('invite', invite)
  for (const member of members) await member.ok('join', { gid })
  return gid
}

const bodiesOf = (client: TestClient, gid: string) =>
  client.events('chat.message', gid).map((event) => (event as { body?: string }).body)

describe('the limits’ pure parts', () => {
  it('a token bucket lets its burst through, then its rate, and everything at rate 0', () => {
    let now = 0
    const limits = { rate: 10, burst: 5 }
    const bucket = new TokenBucket(
      () => limits,
      () => now,
    )
    const take = (n: number) => Array.from({ length: n }, () => bucket.take()).filter(Boolean).length
    expect(take(8)).toBe(5)
    now += 100
    expect(take(3)).toBe(1)
    now += 60_000
    expect(take(20)).toBe(5)
    limits.burst = 2
    now += 60_000
    expect(take(20)).toBe(2)
    limits.rate = 0
    expect(take(1000)).toBe(1000)
  })

  it('a concurrency limit hands out at most its slots, each released once, and none at 0', () => {
    let slots = 2
    const concurrency = new ConcurrencyLimit(() => slots)
    const first = concurrency.tryAcquire()
    const second = concurrency.tryAcquire()
    expect(concurrency.tryAcquire()).toBeUndefined()
    first?.()
    first?.()
    expect(concurrency.inUse).toBe(1)
    expect(concurrency.tryAcquire()).toBeDefined()
    second?.()
    slots = 0
    expect(Array.from({ length: 50 }, () => concurrency.tryAcquire()).every(Boolean)).toBe(true)
  })

  it('reads each limit from its HUDDLE_AWS_* variable, off as 0, and refuses a value that is not a number', () => {
    expect(
      behavioursFromEnvironment({
        HUDDLE_AWS_CALLBACK_RATE: '10000',
        HUDDLE_AWS_CALLBACK_BURST: '5000',
        HUDDLE_AWS_CONNECT_RATE: 'off',
        HUDDLE_AWS_INTEGRATION_TIMEOUT_MS: '5000',
        HUDDLE_AWS_CONCURRENCY: '1000',
      }),
    ).toEqual({
      callbackRatePerSecond: 10_000,
      callbackBurst: 5000,
      connectionsPerSecond: 0,
      integrationTimeoutMs: 5000,
      concurrency: 1000,
    })
    expect(behavioursFromEnvironment({ HUDDLE_AWS: 'off' })).toMatchObject({
      callbackRatePerSecond: 0,
      connectionsPerSecond: 0,
      integrationTimeoutMs: 0,
      concurrency: 0,
    })
    expect(() => behavioursFromEnvironment({ HUDDLE_AWS_CONCURRENCY: 'many' })).toThrow(
      'HUDDLE_AWS_CONCURRENCY must be a number',
    )
  })

  it('backs a throttled post off with full jitter, capped', () => {
    const retry = { maxAttempts: 8, baseMs: 100, capMs: 2000 }
    expect([1, 2, 3, 4, 5, 6].map((attempt) => throttleBackoffMs(retry, attempt, () => 0.999))).toEqual([
      99, 199, 399, 799, 1598, 1998,
    ])
    expect(throttleBackoffMs(retry, 3, () => 0)).toBe(0)
  })
})

describe('API Gateway’s and Lambda’s limits', () => {
  it('answers a management API call past the account’s request rate 429 LimitExceededException', async () => {
    const [erin] = await connect(unique('erin'))
    const id = await connectionIdOf(erin.iss)
    limit({ callbackRatePerSecond: 1, callbackBurst: 1 })
    const before = counters()
    const management = new ApiGatewayManagementApiClient({
      region: localAccount.region,
      endpoint: gateway.url,
      credentials: functionCredentials('message'),
      maxAttempts: 1,
    })
    const post = () =>
      management.send(
        new PostToConnectionCommand({ ConnectionId: id, Data: new TextEncoder().encode('{"type":"x"}') }),
      )
    const outcomes = await Promise.all(
      [post(), post()].map((call) =>
        call.then(
          () => 'ok',
          (e) => e,
        ),
      ),
    )
    expect(outcomes).toContain('ok')
    expect(outcomes.find((outcome) => outcome !== 'ok')).toMatchObject({
      name: 'LimitExceededException',
      $metadata: { httpStatusCode: 429 },
    })
    // API Gateway's own answer, before it looks at the signature.
    const raw = await fetch(`${gateway.url}/@connections/${encodeURIComponent(id)}`, { method: 'POST' })
    expect(raw.status).toBe(429)
    expect(raw.headers.get('x-amzn-errortype')).toBe('LimitExceededException')
    expect(await raw.json()).toEqual({ message: 'Too Many Requests' })
    expect(gateway.aws.counters.callbackThrottles - before.callbackThrottles).toBe(2)
    management.destroy()
  })

  it('has the functions’ post sender wait out 429s with jittered backoff, bounded, never taking one for gone', async () => {
    const [quinn] = await connect(unique('quinn'))
    const id = await connectionIdOf(quinn.iss)
    const fault = { connectionId: id, containing: 'always throttled', status: 429 }
    const armed = await fetch(`${gateway.url}/dev/fail-posts`, {
      method: 'POST',
      body: JSON.stringify(fault),
    })
    expect(armed.status).toBe(204)
    const slept: number[] = []
    const retried: number[] = []
    let exhausted = 0
    const sender = (sleep?: (ms: number) => Promise<void>) =>
      new SignedPostSender({
        endpoint: gateway.url,
        region: localAccount.region,
        credentials: async () => functionCredentials('message'),
        ...(sleep && { sleep }),
        throttleRetry: {},
        onThrottled: { retried: (_, attempt) => retried.push(attempt), exhausted: () => exhausted++ },
      })
    const recorded = sender(async (ms) => {
      slept.push(ms)
    })
    await expect(recorded.send(id, '{"type":"test","why":"always throttled"}')).rejects.toMatchObject({
      name: 'LimitExceededException',
      status: 429,
      attempts: 8,
    })
    expect(retried).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(exhausted).toBe(1)
    slept.forEach((ms, i) => {
      expect(ms).toBeLessThan(Math.min(2000, 100 * 2 ** i))
    })
    recorded.close()

    // Past the account's rate for real: the post waits, then goes through.
    limit({ callbackRatePerSecond: 5, callbackBurst: 1 })
    const real = sender()
    retried.length = 0
    const sent = await Promise.all([1, 2, 3].map((n) => real.send(id, `{"type":"test.rate","n":${n}}`)))
    expect(sent).toEqual(['sent', 'sent', 'sent'])
    expect(retried.length).toBeGreaterThan(0)
    await waitFor(() =>
      expect(quinn.frames.filter((f) => (f as { type?: string }).type === 'test.rate')).toHaveLength(3),
    )
    real.close()
  })

  it('delivers every message of a flood to every member, once, while posts are throttled', async () => {
    const [alice, bob, carol, dave] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
    )
    const gid = await group(alice, [bob, carol, dave])
    limit({ callbackRatePerSecond: 20, callbackBurst: 2 })
    const before = counters()
    const sent = Array.from({ length: 8 }, (_, i) => `flood ${i}`)
    const replies = await Promise.all(sent.map((body) => alice.request('message', { gid, body })))
    expect(replies.map((reply) => reply.type)).toEqual(sent.map(() => 'ack'))
    for (const member of [bob, carol, dave]) {
      await waitFor(() => expect(bodiesOf(member, gid).sort()).toEqual([...sent].sort()))
    }
    expect(gateway.aws.counters.callbackThrottles).toBeGreaterThan(before.callbackThrottles)
    await gateway.events.settled()
    expect(gateway.events.counts('fanout').exhausted).toBe(0)
  })

  it('refuses handshakes past the new connections a second with 429, and the SDK reconnects through them', async () => {
    const frank = unique('frank')
    const url = `${wsUrl()}/?token=${await tokenFor(unique('gina'), undefined, gateway.url)}`
    // Just before the SDK's first reconnect, another client takes the second's one connection, so that the
    // SDK meets a 429 however long the steps before took on a loaded host.
    let spendBeforeReconnect = false
    const client = await sdk(frank, {
      token: async () => {
        const token = await tokenFor(frank, undefined, gateway.url)
        if (spendBeforeReconnect) {
          spendBeforeReconnect = false
          while ((await handshakeStatus(url)) !== 101) await sleep(20)
        }
        return token
      },
    })
    const id = await connectionIdOf(frank)
    limit({ connectionsPerSecond: 1 })
    const before = counters()
    const statuses = await Promise.all([1, 2, 3, 4].map(() => handshakeStatus(url)))
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(3)
    const refusals: string[] = []
    client.onConnectionError((error) => refusals.push(error.message))
    spendBeforeReconnect = true
    // Cut: the SDK meets 429s, backs off, and gets back in.
    expect(await closeDevConnection(gateway.url, id)).toBe(204)
    const reply = await client.request('groups', {})
    expect(reply).toMatchObject({ type: 'ack' })
    expect(refusals.filter((message) => message.includes('HTTP 429')).length).toBeGreaterThanOrEqual(1)
    expect(gateway.aws.counters.connectThrottles - before.connectThrottles).toBeGreaterThanOrEqual(4)
  })

  it('sends API Gateway’s timed-out frame past the integration timeout, drops the late reply, and the SDK still gets its answer', async () => {
    const owner = unique('hana')
    const client = await sdk(owner)
    const [ivan] = await connect(unique('ivan'))
    const gid = await group(client, [ivan])
    const [raw] = await connect(owner)
    // Cut well above what an unslowed invocation takes on a loaded host, well below the slowed ones.
    limit({ integrationTimeoutMs: 800 })
    const before = counters()
    const bodiesBySeq = () =>
      new Map(ivan.events('chat.message', gid).map((event) => [event.seq, event.body]))

    await slow('message', 2000)
    raw.socket.send(JSON.stringify({ action: 'message', id: 'slow', gid, body: 'slow' }))
    const frame = await raw.frame((f) => f.type === undefined && f.message !== undefined)
    expect(frame).toEqual({
      message: 'Endpoint request timed out',
      connectionId: expect.any(String),
      requestId: expect.any(String),
    })
    // The function runs on and its message is stored and delivered; its reply goes nowhere.
    await ivan.nextEvent('chat.message', (event) => (event as { body?: string }).body === 'slow')
    await sleep(300)
    await raw.settle()
    expect(raw.frames.filter((f) => (f as { id?: string }).id === 'slow')).toEqual([])

    // The SDK reads the frame as INTERNAL and sends the request again: one ack. The late first attempt then
    // finds the message stored and posts it again, as a retry does: the same seq, which clients drop.
    await slow('message', 2000)
    const jti = randomUUID()
    const ack = await client.request('message', { gid, body: 'slow sdk', jti })
    expect(ack).toMatchObject({ type: 'ack', jti })
    await waitFor(() =>
      expect(ivan.events('chat.message', gid).filter((event) => event.body === 'slow sdk')).toHaveLength(2),
    )
    expect([...bodiesBySeq().values()]).toEqual(['slow', 'slow sdk'])
    expect(gateway.aws.counters.integrationTimeouts - before.integrationTimeouts).toBeGreaterThanOrEqual(2)
  })

  it('throttles synchronous invocations past the concurrency limit: the error frame, and $connect refused 500', async () => {
    const [jack, kate] = await connect(unique('jack'), unique('kate'))
    const token = await tokenFor(unique('liam'), undefined, gateway.url)
    // The previous case's connections are still closing: their $disconnect would hold the only slot.
    await gateway.settled()
    limit({ concurrency: 1 })
    const before = counters()
    // Jack's request holds the only slot for a while.
    await slow('default', 1500)
    const held = jack.request('barrier')
    await sleep(200)
    kate.socket.send(JSON.stringify({ action: 'barrier', id: 'throttled' }))
    expect(await kate.frame((f) => f.type === undefined && f.message !== undefined)).toEqual({
      message: 'Internal server error',
      connectionId: expect.any(String),
      requestId: expect.any(String),
    })
    expect(await handshakeStatus(`${wsUrl()}/?token=${token}`)).toBe(500)
    expect(await held).toMatchObject({ id: expect.any(String) })
    expect(kate.frames.filter((f) => (f as { id?: string }).id === 'throttled')).toEqual([])
    expect(gateway.aws.counters.throttledInvocations - before.throttledInvocations).toBe(2)
  })

  it('keeps the fan-out worker’s events queued past the concurrency limit, and runs every one', async () => {
    const client = await sdk(unique('mona'))
    const members = await connect(unique('ned'), unique('olga'), unique('pia'))
    const gid = await group(client, members)
    limit({ concurrency: 2 })
    const before = counters()
    const sent = Array.from({ length: 6 }, (_, i) => `queued ${i}`)
    for (const body of sent) {
      expect(await client.request('message', { gid, body, jti: randomUUID() })).toMatchObject({ type: 'ack' })
    }
    for (const member of members) {
      await waitFor(() => expect(bodiesOf(member, gid)).toEqual(sent))
    }
    await gateway.events.settled()
    expect(gateway.aws.counters.delayedEvents).toBeGreaterThan(before.delayedEvents)
    expect(gateway.events.counts('fanout').exhausted).toBe(0)
  })
})
