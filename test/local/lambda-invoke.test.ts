import { Sha256 } from '@smithy/core/checksum'
import { SignatureV4 } from '@smithy/signature-v4'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { fanOutWorker } from '../../lambdas/routes.js'
import { createDevTokens } from '../../local/dev-tokens.js'
import { emulatorClientConfig } from '../../local/emulators.js'
import { type Gateway, startGateway } from '../../local/gateway.js'
import { type Credentials, functionCredentials } from '../../local/grants.js'
import { invokePayloadBytes } from '../../local/lambda-api.js'
import { localHandlerEnvironment } from '../../local/stack.js'
import { connector } from '../support/clients.js'
import { type TestClient, unique } from '../support/huddle.js'
import { functionOutput } from '../support/logs.js'

// A gateway of its own on the shared emulators whose functions hand fan-outs over in slices of two
// connections, so that a group of seven sends every event through the fan-out worker and Lambda's Invoke
// API; failed events are retried after 20 and 40 ms instead of Lambda's minutes.
const fanout = fanOutWorker.handler
let gateway: Gateway
const logs: string[] = []
const connect = connector(() => gateway.url)
beforeAll(async () => {
  // Some invocations below fail on purpose; the worker's error logs would only be noise.
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT')
  gateway = await startGateway({
    port: 0,
    tokens: await createDevTokens(),
    handlerEnvironment: (url) =>
      localHandlerEnvironment(url, inject('dynamoEndpoint'), inject('s3Endpoint'), { fanOutSliceSize: 2 }),
    eventRetryDelaysMs: [20, 40],
    log: (line) => logs.push(line),
    functionOutput,
  })
})
afterAll(async () => {
  vi.unstubAllEnvs()
  await gateway?.close()
})

/** An owner and six members, all joined with one connection each: a message goes to six connections. */
async function groupOfSeven(): Promise<{ gid: string; owner: TestClient; members: TestClient[] }> {
  const [owner, ...members] = await connect(...Array.from({ length: 7 }, (_, n) => unique(`member${n}`)))
  if (!owner) throw new Error('no owner')
  const gid = unique('sliced')
  await owner.ok('invite', { gid, name: 'Sliced', members: members.map((m) => m.iss) })
  for (const member of members) await member.ok('join', { gid })
  await gateway.events.settled()
  return { gid, owner, members }
}

/** The message bodies each member has received in the group, once every handed-over slice is done. */
async function receivedBodies(members: TestClient[], gid: string): Promise<string[][]> {
  await gateway.events.settled()
  await Promise.all(members.map((member) => member.settle()))
  return members.map((member) => member.events('chat.message', gid).map((event) => String(event.body)))
}

/** How the worker's event counts moved while `during` ran. */
async function countsDuring(during: () => Promise<unknown>) {
  const before = gateway.events.counts(fanout)
  await during()
  await gateway.events.settled()
  const after = gateway.events.counts(fanout)
  return {
    queued: after.queued - before.queued,
    attempts: after.attempts - before.attempts,
    failed: after.failed - before.failed,
    exhausted: after.exhausted - before.exhausted,
  }
}

async function devPost(path: string, body: unknown): Promise<void> {
  const response = await fetch(`${gateway.url}${path}`, { method: 'POST', body: JSON.stringify(body) })
  expect(response.status).toBe(204)
}

/** A call to the gateway's Lambda Invoke API, SigV4-signed for `lambda` when credentials are given. */
async function invoke(
  functionName: string,
  payload: string,
  options: { credentials?: Credentials; type?: string } = {},
): Promise<Response> {
  const url = new URL(`/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`, gateway.url)
  const body = Buffer.from(payload)
  let headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.type && { 'x-amz-invocation-type': options.type }),
  }
  if (options.credentials) {
    const signer = new SignatureV4({
      service: 'lambda',
      region: 'us-east-1',
      credentials: options.credentials,
      sha256: Sha256,
    })
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { ...headers, host: url.host },
      body,
    })
    // fetch sets the same Host itself.
    const { host: _, ...rest } = signed.headers
    headers = rest
  }
  return fetch(url, { method: 'POST', headers, body })
}

async function awsError(
  response: Response,
): Promise<{ status: number; type: string | null; message: string }> {
  const { message } = (await response.json()) as { message: string }
  return { status: response.status, type: response.headers.get('x-amzn-errortype'), message }
}

describe('fan-out through the worker and the local Lambda API', () => {
  it('delivers every message to every member exactly once, four of its six connections by the worker', async () => {
    const { gid, owner, members } = await groupOfSeven()
    const bodies = ['one', 'two', 'three']
    const counts = await countsDuring(async () => {
      for (const body of bodies) await owner.ok('message', { gid, body })
    })
    expect(counts).toEqual({ queued: 6, attempts: 6, failed: 0, exhausted: 0 })
    for (const received of await receivedBodies(members, gid))
      expect(received.sort()).toEqual([...bodies].sort())
  })

  it('retries a worker invocation that failed, and still delivers exactly once', async () => {
    const { gid, owner, members } = await groupOfSeven()
    await devPost('/dev/fail-invocations', { function: fanout, count: 1 })
    const counts = await countsDuring(() => owner.ok('message', { gid, body: 'retried' }))
    expect(counts).toEqual({ queued: 2, attempts: 3, failed: 1, exhausted: 0 })
    expect(logs.join('\n')).toMatch(
      /fanout: event \S+ failed \(crash: failed on purpose.*\); retry 1 in 20 ms/,
    )
    for (const received of await receivedBodies(members, gid)) expect(received).toEqual(['retried'])
  })

  it('gives an event up after two retries, as Lambda does, leaving its slice unposted', async () => {
    const { gid, owner, members } = await groupOfSeven()
    // Both slices fail all three times.
    await devPost('/dev/fail-invocations', { function: fanout, count: 6 })
    const counts = await countsDuring(() => owner.ok('message', { gid, body: 'lost' }))
    expect(counts).toEqual({ queued: 2, attempts: 6, failed: 6, exhausted: 2 })
    expect(logs.join('\n')).toMatch(/fanout: event \S+ failed 3 times .*on-failure destination/)
    const received = await receivedBodies(members, gid)
    // The function's own slice of two is posted; the members of the two lost slices recover from the log.
    expect(received.filter((bodies) => bodies.length === 1)).toEqual([['lost'], ['lost']])
    expect(received.filter((bodies) => bodies.length === 0)).toHaveLength(4)
  })

  it('posts a slice once when Lambda delivers its event twice', async () => {
    const { gid, owner, members } = await groupOfSeven()
    await devPost('/dev/duplicate-invocations', { function: fanout, count: 2 })
    const counts = await countsDuring(() => owner.ok('message', { gid, body: 'twice' }))
    expect(counts).toEqual({ queued: 4, attempts: 4, failed: 0, exhausted: 0 })
    for (const received of await receivedBodies(members, gid)) expect(received).toEqual(['twice'])
  })
})

describe('GET /dev/memory', () => {
  it("reports each running function's peak memory, the worker's included", async () => {
    const { gid, owner } = await groupOfSeven()
    await owner.ok('message', { gid, body: 'weighed' })
    await gateway.events.settled()
    const peaks = (await (await fetch(`${gateway.url}/dev/memory`)).json()) as Record<string, number>
    for (const name of ['message', fanout, 'authorizer']) expect(peaks[name]).toBeGreaterThan(1_000_000)
  })
})

describe('the Invoke API', () => {
  const slice = JSON.stringify({ id: 'none', event: 'chat.message', data: '{}', targets: [] })
  const granted = functionCredentials('message')

  it('refuses a call that is unsigned, or signed with a key nobody was given', async () => {
    expect(await awsError(await invoke(fanout, slice, { type: 'Event' }))).toMatchObject({
      status: 403,
      type: 'MissingAuthenticationTokenException',
    })
    const stranger = { accessKeyId: 'local-nobody', secretAccessKey: 'guessed' }
    expect(
      await awsError(await invoke(fanout, slice, { credentials: stranger, type: 'Event' })),
    ).toMatchObject({
      status: 403,
      type: 'UnrecognizedClientException',
    })
  })

  it('refuses a function without the grant with AccessDenied naming lambda:InvokeFunction', async () => {
    for (const [caller, target] of [
      ['history', fanout],
      ['message', 'history'],
      [fanout, fanout],
    ] as const) {
      const denied = await awsError(
        await invoke(target, slice, { credentials: functionCredentials(caller), type: 'Event' }),
      )
      expect(denied).toEqual({
        status: 403,
        type: 'AccessDeniedException',
        message: expect.stringContaining(
          `assumed-role/huddle-${caller}/${caller} is not authorized to perform: lambda:InvokeFunction ` +
            `on resource: arn:aws:lambda:us-east-1:000000000000:function:${target}`,
        ),
      })
    }
    expect(logs.join('\n')).toContain(
      'huddle-history/history is not authorized to perform: lambda:InvokeFunction',
    )
    // The same call from a function granted it: checked (DryRun) and not run.
    expect((await invoke(fanout, slice, { credentials: granted, type: 'DryRun' })).status).toBe(204)
  })

  it('answers 404 for an unknown function, 400 for a payload that is not JSON, 413 for an event over 1 MB', async () => {
    const admin = emulatorClientConfig.credentials
    expect(await awsError(await invoke('nope', slice, { credentials: admin }))).toEqual({
      status: 404,
      type: 'ResourceNotFoundException',
      message: 'Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope',
    })
    expect(
      await awsError(await invoke(fanout, '{not json', { credentials: granted, type: 'Event' })),
    ).toMatchObject({ status: 400, type: 'InvalidRequestContentException' })
    const large = JSON.stringify({ padding: 'x'.repeat(invokePayloadBytes.Event) })
    expect(
      await awsError(await invoke(fanout, large, { credentials: granted, type: 'Event' })),
    ).toMatchObject({
      status: 413,
      type: 'RequestEntityTooLargeException',
      message: `${large.length} byte payload is too large for the Event invocation type (limit 1048576 bytes)`,
    })
  })

  it('answers a RequestResponse call with the result, or with the error flagged Unhandled', async () => {
    const admin = emulatorClientConfig.credentials
    const empty = JSON.stringify({ id: unique('empty'), event: 'chat.message', data: '{}', targets: [] })
    const done = await invoke(fanout, empty, { credentials: admin })
    expect(done.status).toBe(200)
    expect(done.headers.get('x-amz-function-error')).toBeNull()
    expect(await done.json()).toBeNull()

    const failed = await invoke(fanout, '{}', { credentials: admin })
    expect(failed.status).toBe(200)
    expect(failed.headers.get('x-amz-function-error')).toBe('Unhandled')
    expect(await failed.json()).toMatchObject({
      errorType: expect.any(String),
      errorMessage: expect.any(String),
    })
  })
})
