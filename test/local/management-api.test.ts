import { createServer, type IncomingHttpHeaders } from 'node:http'
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi'
import type { AwsCredentialIdentity } from '@smithy/types'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SignedPostSender } from '../../lambdas/adapters/management-api.js'
import { AwsRequestError, backoffMs, RetryQuota, retryKind } from '../../lambdas/adapters/signed-http.js'
import { routes } from '../../lambdas/routes.js'
import { emulatorClientConfig } from '../../local/emulators.js'
import { type Credentials, functionCredentials, localAccount } from '../../local/grants.js'
import { SignatureVerifier } from '../../local/sigv4.js'
import { connector } from '../support/clients.js'
import { httpUrl, unique } from '../support/huddle.js'

const connect = connector()
const senders: SignedPostSender[] = []
afterAll(() => {
  for (const sender of senders) sender.close()
})

/** A lean sender to the test run's gateway, signing with `credentials`; its backoffs are recorded, not slept. */
function leanSender(credentials: Credentials, endpoint = httpUrl()) {
  const slept: number[] = []
  const sender = new SignedPostSender({
    endpoint,
    region: localAccount.region,
    credentials: async () => credentials,
    sleep: async (ms) => {
      slept.push(ms)
    },
  })
  senders.push(sender)
  return { sender, slept }
}

const post = (ConnectionId: string, data: string) =>
  new PostToConnectionCommand({ ConnectionId, Data: new TextEncoder().encode(data) })

const fanOutFunction = routes.find((r) => r.access.connections)?.handler ?? 'message'
const quietFunction = routes.find((r) => !r.access.connections)?.handler ?? 'connect'

async function connectionIdOf(iss: string): Promise<string> {
  const url = new URL(`${httpUrl()}/dev/connections`)
  url.searchParams.set('sub', iss)
  const { connectionIds } = (await (await fetch(url)).json()) as { connectionIds: string[] }
  const [id] = connectionIds
  if (id === undefined) throw new Error(`${iss} has no open connection`)
  return id
}

async function failPosts(connectionId: string, containing: string, status: number): Promise<void> {
  const response = await fetch(`${httpUrl()}/dev/fail-posts`, {
    method: 'POST',
    body: JSON.stringify({ connectionId, containing, status }),
  })
  expect(response.status).toBe(204)
}

describe('the lean management API sender (SignedPostSender) against the local gateway', () => {
  it("posts an event that reaches the client's WebSocket, signed with a fan-out function's own key", async () => {
    const [alice] = await connect(unique('alice'))
    const { sender } = leanSender(functionCredentials(fanOutFunction))
    const event = { type: 'test.lean', text: 'héllo 👋 — posted without the SDK', n: 1 }
    expect(await sender.send(await connectionIdOf(alice.iss), JSON.stringify(event))).toBe('sent')
    expect(await alice.frame((frame) => frame.type === 'test.lean')).toEqual(event)
  })

  it('is accepted with the developer key too, and keeps posting over its kept-open connections', async () => {
    const [bob] = await connect(unique('bob'))
    const id = await connectionIdOf(bob.iss)
    const { sender } = leanSender(localAccount.admin)
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, n) => sender.send(id, JSON.stringify({ type: 'test.burst', n }))),
    )
    expect(results.every((r) => r === 'sent')).toBe(true)
    await bob.settle()
    const received = bob.frames.filter((f) => (f as { type?: string }).type === 'test.burst') as {
      n: number
    }[]
    expect(received.map((f) => f.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, n) => n))
  })

  it('answers gone for a connection that never existed or has closed, as the SDK sender does', async () => {
    const { sender } = leanSender(functionCredentials(fanOutFunction))
    const sdk = new ApiGatewayManagementApiClient({ ...emulatorClientConfig, endpoint: httpUrl() })
    expect(await sender.send('Tm9ib2R5SGVyZQ=', '{"type":"test.gone"}')).toBe('gone')
    await expect(sdk.send(post('Tm9ib2R5SGVyZQ=', '{"type":"test.gone"}'))).rejects.toMatchObject({
      name: 'GoneException',
    })
    sdk.destroy()

    const [carol] = await connect(unique('carol'))
    const id = await connectionIdOf(carol.iss)
    const closed = carol.closed()
    carol.close()
    await closed
    await expect.poll(() => sender.send(id, '{"type":"test.gone"}')).toBe('gone')
  })

  it('is refused at once, with AWS error type and status, for a wrong secret or a key without ManageConnections', async () => {
    const [dave] = await connect(unique('dave'))
    const id = await connectionIdOf(dave.iss)
    const forged = leanSender({ ...functionCredentials(fanOutFunction), secretAccessKey: 'not-the-secret' })
    const refusal = await forged.sender.send(id, '{"type":"test.forged"}').catch((error: unknown) => error)
    expect(refusal).toBeInstanceOf(AwsRequestError)
    expect(refusal).toMatchObject({ status: 403, errorType: 'InvalidSignatureException', attempts: 1 })
    expect(String((refusal as Error).message)).toContain('signature')
    expect(forged.slept).toEqual([])

    const quiet = leanSender(functionCredentials(quietFunction))
    await expect(quiet.sender.send(id, '{"type":"test.denied"}')).rejects.toMatchObject({
      name: 'AccessDeniedException',
      status: 403,
      attempts: 1,
    })
    await dave.settle()
    expect(dave.frames.filter((f) => (f as { type?: string }).type === 'test.forged')).toEqual([])
  })

  it('surfaces a failing post as an error after the SDK’s three attempts, with its backoff', async () => {
    const [erin] = await connect(unique('erin'))
    const id = await connectionIdOf(erin.iss)
    await failPosts(id, 'fails with 500', 500)
    await failPosts(id, 'fails with 429', 429)
    await failPosts(id, 'fails with 400', 400)

    const failing = leanSender(functionCredentials(fanOutFunction))
    await expect(
      failing.sender.send(id, '{"type":"test.fail","why":"fails with 500"}'),
    ).rejects.toMatchObject({
      status: 500,
      attempts: 3,
      message: expect.stringContaining('failed on purpose'),
    })
    // Transient: random × 50 ms, then random × 100 ms.
    expect(failing.slept).toHaveLength(2)
    expect(failing.slept[0]).toBeLessThan(50)
    expect(failing.slept[1]).toBeLessThan(100)

    const throttled = leanSender(functionCredentials(fanOutFunction))
    await expect(
      throttled.sender.send(id, '{"type":"test.fail","why":"fails with 429"}'),
    ).rejects.toMatchObject({
      status: 429,
      attempts: 3,
    })
    // Throttling: random × 1 s, then random × 2 s.
    expect(throttled.slept).toHaveLength(2)
    expect(throttled.slept[0]).toBeLessThan(1000)
    expect(throttled.slept[1]).toBeLessThan(2000)

    const refused = leanSender(functionCredentials(fanOutFunction))
    await expect(
      refused.sender.send(id, '{"type":"test.fail","why":"fails with 400"}'),
    ).rejects.toMatchObject({
      status: 400,
      attempts: 1,
    })
    expect(refused.slept).toEqual([])

    // The connection stays open and other posts still reach it.
    expect(await failing.sender.send(id, '{"type":"test.fine"}')).toBe('sent')
    await erin.frame((frame) => frame.type === 'test.fine')
    expect(erin.frames.filter((f) => (f as { type?: string }).type === 'test.fail')).toEqual([])
  })
})

describe('the lean sender builds the request the SDK client builds', () => {
  interface Captured {
    url: string
    headers: IncomingHttpHeaders
    body: Buffer
  }
  const captured: Captured[] = []
  let base = ''
  const verifier = new SignatureVerifier('execute-api', 'eu-west-1', (id) =>
    id === 'AKIDEXAMPLE' ? 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' : undefined,
  )
  const signatures: boolean[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks)
      captured.push({ url: request.url ?? '', headers: request.headers, body })
      void verifier
        .check({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body })
        .then((check) => {
          signatures.push(check.ok)
          response.writeHead(200).end()
        })
    })
  })
  beforeAll(async () => {
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    base = `http://127.0.0.1:${address.port}`
  })
  afterAll(() => new Promise<void>((done) => server.close(() => done())))

  it("encodes the connection id in the path under the endpoint's stage exactly as the SDK does, and signs it", async () => {
    const credentials: AwsCredentialIdentity = {
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      sessionToken: 'a-session-token',
    }
    const endpoint = `${base}/prod`
    const sdkClient = new ApiGatewayManagementApiClient({ region: 'eu-west-1', credentials, endpoint })
    const lean = new SignedPostSender({
      endpoint,
      region: 'eu-west-1',
      credentials: async () => credentials,
    })
    senders.push(lean)
    const data = JSON.stringify({ type: 'chat.message', body: 'ünïcödé ✓' })
    for (const id of ['L0SM9cOFvHcCIhw=', "a+b/c=d!*'() e~_.-"]) {
      captured.length = 0
      await sdkClient.send(post(id, data))
      expect(await lean.send(id, data)).toBe('sent')
      const [bySdk, byLean] = captured as [Captured, Captured]
      expect(byLean.url).toBe(bySdk.url)
      expect(byLean.url.startsWith('/prod/@connections/')).toBe(true)
      expect(byLean.body.equals(bySdk.body)).toBe(true)
      expect(byLean.body.toString('utf8')).toBe(data)
      for (const name of ['content-type', 'content-length', 'host', 'x-amz-security-token']) {
        expect(byLean.headers[name], name).toBe(bySdk.headers[name])
      }
      const signedHeaders = /SignedHeaders=([^,]+)/.exec(String(byLean.headers.authorization))?.[1]
      expect(signedHeaders?.split(';')).toEqual(
        expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token', 'content-type']),
      )
      expect(String(byLean.headers.authorization)).toContain('/eu-west-1/execute-api/aws4_request')
    }
    expect(signatures).toEqual([true, true, true, true])
    sdkClient.destroy()
  })
})

describe('the retries the lean sender keeps from the SDK', () => {
  const failure = (status: number | undefined, errorType: string) =>
    new AwsRequestError(errorType, status, 1, 'test')

  it('retries throttling and 500, 502, 503, 504 and dropped connections, nothing else', () => {
    expect(retryKind(failure(429, 'LimitExceededException'))).toBe('throttling')
    expect(retryKind(failure(400, 'ThrottlingException'))).toBe('throttling')
    for (const status of [500, 502, 503, 504]) expect(retryKind(failure(status, 'X'))).toBe('transient')
    expect(retryKind(failure(undefined, 'ECONNRESET'))).toBe('transient')
    expect(retryKind(failure(undefined, 'EPIPE'))).toBe('transient')
    for (const status of [400, 403, 413, 501]) expect(retryKind(failure(status, 'X'))).toBeUndefined()
    expect(retryKind(failure(undefined, 'ERR_INVALID_URL'))).toBeUndefined()
  })

  it('retries a refused connection as the SDK does, and does not retry a credentials failure', async () => {
    const closed = createServer()
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done))
    const address = closed.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    await new Promise((done) => closed.close(done))
    const unreachable = leanSender(localAccount.admin, `http://127.0.0.1:${address.port}/prod`)
    await expect(unreachable.sender.send('Tm9ib2R5SGVyZQ=', '{}')).rejects.toMatchObject({
      name: 'ECONNREFUSED',
      status: undefined,
      attempts: 3,
    })
    expect(unreachable.slept).toHaveLength(2)

    const noCredentials = new SignedPostSender({
      endpoint: httpUrl(),
      region: localAccount.region,
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        })
      },
    })
    senders.push(noCredentials)
    await expect(noCredentials.send('Tm9ib2R5SGVyZQ=', '{}')).rejects.toMatchObject({
      name: 'CredentialsProviderError',
      attempts: 1,
      message: expect.stringContaining('Could not load credentials'),
    })
  })

  it('backs off with full jitter, from 50 ms (1 s when throttled), doubling, at most 20 s', () => {
    expect(backoffMs('transient', 1, () => 0.999)).toBe(49)
    expect(backoffMs('transient', 2, () => 0.5)).toBe(50)
    expect(backoffMs('throttling', 1, () => 0.5)).toBe(500)
    expect(backoffMs('throttling', 10, () => 0.999)).toBe(19_980)
    expect(backoffMs('transient', 1, () => 0)).toBe(0)
  })

  it('spends a quota on retries that successes fill again, as the SDK’s standard mode does', () => {
    const quota = new RetryQuota()
    let retries = 0
    while (quota.take('transient') !== undefined) retries++
    expect(retries).toBe(35)
    expect(quota.take('throttling')).toBe(5)
    quota.succeeded(14)
    expect(quota.available).toBe(19)
    quota.succeeded(undefined)
    expect(quota.available).toBe(20)
  })
})
