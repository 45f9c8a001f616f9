import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi'
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { type AwsRequestError, SignedHttp } from '../../lambdas/adapters/signed-http.js'
import { SqsPresenceChanges } from '../../lambdas/adapters/sqs-queue.js'
import { bucketPrefixes, presenceWorker, routes } from '../../lambdas/routes.js'
import { DataDirInUse, lockDataDir } from '../../local/data-dir.js'
import { createDevTokens } from '../../local/dev-tokens.js'
import { emulatorClientConfig, type S3Emulator, startS3Emulator } from '../../local/emulators.js'
import { sourceModule } from '../../local/functions.js'
import { type Gateway, startGateway } from '../../local/gateway.js'
import { type Credentials, functionCredentials } from '../../local/grants.js'
import { localQueueUrl } from '../../local/sqs-api.js'
import { localHandlerEnvironment, localNames } from '../../local/stack.js'
import { connector } from '../support/clients.js'
import { groupItems, handshakeStatus, httpUrl, png, tokenFor, unique } from '../support/huddle.js'

const fixture = (name: string) => fileURLToPath(new URL(`../support/${name}.ts`, import.meta.url))
const bucket = localNames.bucket
const { uploads, avatars } = bucketPrefixes

// A gateway of its own on the shared emulators, whose route table gives some routes too little: `message`
// may only read the table, `avatar` may only write avatars/, `history` is stuck and has 0.3 s, and `$default`
// and `receipts` answer with their environment.
let gateway: Gateway
const logs: string[] = []
/** What the functions logged, by function: the refusals below are expected, and asserted here. */
const output: { fn: string; line: string }[] = []
const connect = connector(() => gateway.url)
const connectShared = connector()
beforeAll(async () => {
  gateway = await startGateway({
    port: 0,
    tokens: await createDevTokens(),
    routes: routes.map((route) => {
      switch (route.routeKey) {
        case 'message':
          return { ...route, access: { table: 'read', connections: true } }
        case 'avatar':
          return { ...route, access: { ...route.access, bucket: { write: [avatars] } } }
        case 'history':
          return { ...route, timeoutSeconds: 0.3 }
        default:
          return route
      }
    }),
    handlerModule: (handler) =>
      handler === 'history'
        ? fixture('slow-handler')
        : handler === 'default' || handler === 'receipts'
          ? fixture('env-handler')
          : sourceModule(handler),
    handlerEnvironment: (url) => localHandlerEnvironment(url, inject('dynamoEndpoint'), inject('s3Endpoint')),
    log: (line) => logs.push(line),
    functionOutput: (fn, line) => output.push({ fn, line }),
  })
})
afterAll(() => gateway?.close())

const dynamoAs = (credentials: Credentials, endpoint = gateway.endpoints.dynamo) =>
  new DynamoDBClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 })
function s3As(credentials: Credentials, endpoint = gateway.endpoints.s3): S3Client {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    credentials,
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  })
  // S3rver 4 checks a bucket request's signature over /bucket, where SDK v3 signs (and sends) /bucket/.
  client.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { path?: string }
      if (request.path === `/${bucket}/`) request.path = `/${bucket}`
      return next(args)
    },
    { step: 'build' },
  )
  return client
}
const managementAs = (credentials: Credentials) =>
  new ApiGatewayManagementApiClient({
    region: 'us-east-1',
    endpoint: gateway.url,
    credentials,
    maxAttempts: 1,
  })

/** The error a call fails with: its name and HTTP status. */
async function failure(call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  const error = await call.then(
    () => undefined,
    (error: unknown) => error as { name: string; $metadata?: { httpStatusCode?: number } },
  )
  return { name: error?.name ?? 'no error', status: error?.$metadata?.httpStatusCode }
}

describe('functions run with their own grants', () => {
  it('fails a route given too little with AccessDenied from the real emulators, and runs the others', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('granted')
    await alice.ok('invite', { gid, name: 'Granted', members: [bob.iss] })
    await bob.ok('join', { gid })
    const before = await groupItems(gid)

    // `message` may only read the table: its write is refused by DynamoDB, and nothing is stored or sent.
    expect(await alice.request('message', { gid, body: 'not allowed' })).toMatchObject({
      type: 'error',
      code: 'INTERNAL',
    })
    expect(logs.join('\n')).toMatch(
      /AccessDenied: User: arn:aws:sts::000000000000:assumed-role\/huddle-message\/message is not authorized to perform: dynamodb:\w+Item on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/huddle/,
    )
    // The function logs the failure it answered INTERNAL, with what AWS said.
    const failures = output.filter(({ fn, line }) => fn === 'message' && line.startsWith('{'))
    expect(failures.map(({ line }) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        iss: alice.iss,
        error: expect.objectContaining({ name: 'AccessDeniedException' }),
      }),
    )
    expect(await groupItems(gid)).toEqual(before)
    await bob.settle()
    expect(bob.events('chat.message', gid)).toEqual([])

    // `avatar` may only write avatars/: the upload it presigns (under uploads/) is refused by S3.
    const upload = await alice.ok('avatar', { mime: 'image/png', size: png.length })
    const put = await fetch(String(upload.url), {
      method: 'PUT',
      headers: upload.headers as Record<string, string>,
      body: png,
    })
    expect(put.status).toBe(403)
    expect(await put.text()).toContain('<Code>AccessDenied</Code>')
    expect(logs.join('\n')).toContain('huddle-avatar/avatar is not authorized to perform: s3:PutObject')

    // The same routes with their real grants, on the shared stack.
    const [carol, dave] = await connectShared(unique('carol'), unique('dave'))
    const key = await carol.uploadAvatar(png)
    const shared = unique('shared')
    await carol.ok('invite', { gid: shared, name: 'Shared', members: [dave.iss], avatar: { key } })
    await dave.ok('join', { gid: shared })
    await carol.ok('message', { gid: shared, body: 'allowed' })
    await dave.nextEvent('chat.message', (event) => event.body === 'allowed')
  })

  it('gives each function only the environment its access implies, and keys of its own', async () => {
    const [alice] = await connect(unique('alice'))
    const envOf = async (frame: string) => (await alice.sendRaw(frame)).env as Record<string, string>

    const nothing = await envOf('not json') // $default: access {}
    expect(nothing.AWS_ACCESS_KEY_ID).toBe('local-default')
    for (const name of ['TABLE_NAME', 'DYNAMODB_ENDPOINT', 'BUCKET_NAME', 'S3_ENDPOINT', 'WS_CALLBACK_URL']) {
      expect(nothing, name).not.toHaveProperty(name)
    }
    expect(nothing).not.toHaveProperty('JWKS_URL')
    expect(nothing).not.toHaveProperty('PATH') // nothing of the gateway's own process

    const reader = await envOf(JSON.stringify({ action: 'receipts', id: 'r' })) // access { table: 'read' }
    expect(reader).toMatchObject({
      AWS_ACCESS_KEY_ID: 'local-receipts',
      TABLE_NAME: localNames.table,
      DYNAMODB_ENDPOINT: gateway.endpoints.dynamo,
    })
    expect(reader.AWS_SECRET_ACCESS_KEY).toBe(functionCredentials('receipts').secretAccessKey)
    expect(reader).not.toHaveProperty('BUCKET_NAME')
    expect(reader).not.toHaveProperty('WS_CALLBACK_URL')
  })

  it('answers DynamoDB calls outside a function’s grant as DynamoDB does', async () => {
    const reader = dynamoAs(functionCredentials('receipts'))
    const Key = { PK: { S: unique('nothing') }, SK: { S: 'META' } }
    await reader.send(new GetItemCommand({ TableName: localNames.table, Key }))
    expect(
      await failure(reader.send(new PutItemCommand({ TableName: localNames.table, Item: Key }))),
    ).toEqual({
      name: 'AccessDeniedException',
      status: 400,
    })
    expect(await failure(reader.send(new GetItemCommand({ TableName: 'other', Key })))).toMatchObject({
      name: 'AccessDeniedException',
    })
    const forged = { ...functionCredentials('receipts'), secretAccessKey: 'guessed' }
    expect(
      await failure(dynamoAs(forged).send(new GetItemCommand({ TableName: localNames.table, Key }))),
    ).toEqual({ name: 'InvalidSignatureException', status: 400 })
    const stranger = { accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' }
    expect(
      await failure(dynamoAs(stranger).send(new GetItemCommand({ TableName: localNames.table, Key }))),
    ).toEqual({ name: 'UnrecognizedClientException', status: 400 })
    const raw = await fetch(String(gateway.endpoints.dynamo), {
      method: 'POST',
      headers: {
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: '{}',
    })
    expect(raw.status).toBe(400)
    expect(await raw.json()).toMatchObject({
      __type: 'com.amazon.coral.service#MissingAuthenticationTokenException',
    })
  })

  it('lets a function read and write the bucket only under its route’s prefixes', async () => {
    const invite = s3As(functionCredentials('invite')) // reads uploads/ and avatars/, writes avatars/
    const id = unique('object')
    const denied = { name: 'AccessDenied', status: 403 }
    await invite.send(new PutObjectCommand({ Bucket: bucket, Key: `${avatars}${id}`, Body: png }))
    expect(
      await failure(invite.send(new PutObjectCommand({ Bucket: bucket, Key: `${uploads}${id}`, Body: png }))),
    ).toEqual(denied)
    // A missing key is 403, not 404, to a function: S3 says 404 only to a caller allowed s3:ListBucket.
    expect(
      await failure(invite.send(new GetObjectCommand({ Bucket: bucket, Key: `${uploads}${id}-missing` }))),
    ).toEqual(denied)
    expect(await failure(invite.send(new GetObjectCommand({ Bucket: bucket, Key: `other/${id}` })))).toEqual(
      denied,
    )
    await invite.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: avatars }))
    expect(await failure(invite.send(new ListObjectsV2Command({ Bucket: bucket })))).toEqual(denied)
    const copy = (from: string, to: string) =>
      invite.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${from}` }))
    await copy(`${avatars}${id}`, `${avatars}${id}-copy`)
    expect(await failure(copy(`${avatars}${id}`, `${uploads}${id}-copy`))).toEqual(denied)
    expect(await failure(copy(`other/${id}`, `${avatars}${id}-other`))).toEqual(denied)
    expect(
      await failure(invite.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${avatars}${id}` }))),
    ).toEqual(denied)
    const groups = s3As(functionCredentials('groups')) // reads avatars/ only
    await groups.send(new HeadObjectCommand({ Bucket: bucket, Key: `${avatars}${id}` }))
    expect(
      await failure(groups.send(new PutObjectCommand({ Bucket: bucket, Key: `${avatars}${id}`, Body: png }))),
    ).toEqual(denied)
    expect(
      await failure(groups.send(new GetObjectCommand({ Bucket: bucket, Key: `${uploads}${id}` }))),
    ).toEqual(denied)
  })

  it('takes management API calls only when SigV4-signed by a function granted connections', async () => {
    const [alice] = await connect(unique('alice'))
    const id = (await fetch(`${gateway.url}/dev/connections?sub=${alice.iss}`).then((r) => r.json()))
      .connectionIds[0] as string
    const post = (credentials: Credentials) =>
      managementAs(credentials).send(
        new PostToConnectionCommand({ ConnectionId: id, Data: new TextEncoder().encode('{"type":"hello"}') }),
      )

    expect(await failure(post(functionCredentials('history')))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    })
    expect(await failure(post({ ...functionCredentials('join'), secretAccessKey: 'guessed' }))).toEqual({
      name: 'InvalidSignatureException',
      status: 403,
    })
    const unsigned = await fetch(`${gateway.url}/@connections/${encodeURIComponent(id)}`, {
      method: 'POST',
      body: '{"type":"hello"}',
    })
    expect(unsigned.status).toBe(403)
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException')
    expect(
      (await fetch(`${gateway.url}/@connections/${encodeURIComponent(id)}`, { method: 'DELETE' })).status,
    ).toBe(403)
    expect(alice.frames).toEqual([])

    await post(functionCredentials('join'))
    await alice.frame((frame) => frame.type === 'hello')
    const closed = alice.closed()
    await managementAs(emulatorClientConfig.credentials).send(
      new DeleteConnectionCommand({ ConnectionId: id }),
    )
    expect((await closed).code).toBe(1000)
    expect(await failure(post(functionCredentials('join')))).toEqual({ name: 'GoneException', status: 410 })
  })

  it('takes SendMessage only to the queues a function is granted, within SQS’s limits', async () => {
    const queueAs = (name: string, secretAccessKey = functionCredentials(name).secretAccessKey) =>
      new SqsPresenceChanges(
        new SignedHttp({
          endpoint: gateway.url,
          service: 'sqs',
          region: 'us-east-1',
          credentials: async () => ({ ...functionCredentials(name), secretAccessKey }),
          maxAttempts: 1,
        }),
        localQueueUrl(gateway.url, presenceWorker.handler),
      )
    const refusal = (sent: Promise<unknown>) =>
      sent.then(
        () => 'sent',
        (error: AwsRequestError) => `${error.status} ${error.errorType}`,
      )
    const change = { iss: unique('nobody') }
    expect(await refusal(queueAs('history').schedule(change, 0))).toBe('403 AccessDenied')
    expect(await refusal(queueAs('hide-presence', 'guessed').schedule(change, 0))).toBe(
      '403 InvalidSignature',
    )
    expect(await refusal(queueAs('hide-presence').schedule(change, 901))).toBe('400 InvalidParameterValue')
    // A change of an identity with no groups is announced to nobody: the worker runs, and posts nothing.
    const before = gateway.events.counts(presenceWorker.handler)
    expect(await refusal(queueAs('hide-presence').schedule(change, 0))).toBe('sent')
    // The other tests' departures wait out their grace in the queue; this one runs at once.
    await vi.waitFor(() =>
      expect(gateway.events.counts(presenceWorker.handler)).toMatchObject({
        attempts: before.attempts + 1,
        failed: before.failed,
      }),
    )
  })

  it('closes a connection unsigned through the dev endpoint (for tests and benchmarks)', async () => {
    const [alice] = await connect(unique('alice'))
    const id = (await fetch(`${gateway.url}/dev/connections?sub=${alice.iss}`).then((r) => r.json()))
      .connectionIds[0] as string
    const closed = alice.closed()
    const url = `${gateway.url}/dev/connections/${encodeURIComponent(id)}`
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(204)
    expect((await closed).code).toBe(1000)
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(410)
  })
})

describe('timeouts', () => {
  it('fails an invocation that outlives its function’s timeout as API Gateway does, and stops it', async () => {
    const [alice] = await connect(unique('alice'))
    alice.socket.send(JSON.stringify({ action: 'history', id: 'stuck', gid: unique('g') }))
    const failed = await alice.frame((frame) => frame.message === 'Internal server error')
    expect(failed).toEqual({
      message: 'Internal server error',
      connectionId: expect.any(String),
      requestId: expect.any(String),
    })
    await expect
      .poll(() => logs.join('\n'), { timeout: 10_000 })
      .toMatch(/history: a retired instance is stopped/)
    expect(logs.join('\n')).toContain('history: Task timed out after 0.30 seconds')

    // The connection stays, other routes answer, and the next invocation gets a fresh instance.
    await alice.ok('groups')
    alice.socket.send(JSON.stringify({ action: 'history', id: 'stuck-again', gid: unique('g') }))
    await expect
      .poll(() => alice.frames.filter((frame) => (frame as { message?: string }).message).length, {
        timeout: 10_000,
      })
      .toBe(2)
  })
})

describe('the avatar bucket', () => {
  const s3Url = () => `${inject('s3Endpoint')}/${bucket}`

  it('refuses every unsigned request, as a private bucket does', async () => {
    const key = `${avatars}${unique('private')}`
    await s3As(emulatorClientConfig.credentials, inject('s3Endpoint')).send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: png }),
    )
    for (const base of [s3Url(), `${gateway.endpoints.s3}/${bucket}`]) {
      for (const [method, path, body] of [
        ['GET', `/${key}`],
        ['HEAD', `/${key}`],
        ['PUT', `/${key}`, 'overwritten'],
        ['DELETE', `/${key}`],
        ['GET', '/'],
        ['GET', `/?list-type=2&prefix=${avatars}`],
      ] as const) {
        const response = await fetch(`${base}${path}`, { method, ...(body && { body }) })
        expect(response.status, `${method} ${path}`).toBe(403)
        if (method !== 'HEAD') expect(await response.text()).toContain('<Code>AccessDenied</Code>')
      }
    }
    const kept = await s3As(emulatorClientConfig.credentials, inject('s3Endpoint')).send(
      new GetObjectCommand({ Bucket: bucket, Key: key }),
    )
    expect(Buffer.from(await (kept.Body?.transformToByteArray() ?? new Uint8Array()))).toEqual(png)
  })

  it('answers a browser’s preflight as the deployed bucket’s CORS rule does', async () => {
    const preflight = (method: string, headers: string, url = `${s3Url()}/${uploads}someone/some-id`) =>
      fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://localhost:5173',
          'access-control-request-method': method,
          'access-control-request-headers': headers,
        },
      })
    const allowed = await preflight('PUT', 'content-type')
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('*')
    expect(allowed.headers.get('access-control-allow-methods')).toBe('PUT, GET')
    expect(allowed.headers.get('access-control-allow-headers')).toBe('content-type')
    expect((await preflight('GET', '')).status).toBe(200)
    expect((await preflight('DELETE', '')).status).toBe(403)
    expect((await preflight('PUT', 'content-type, x-amz-acl')).status).toBe(403)

    // Through a real presigned URL, as a browser uploads.
    const [alice] = await connectShared(unique('alice'))
    const upload = await alice.ok('avatar', { mime: 'image/png', size: png.length })
    expect((await preflight('PUT', 'content-type', String(upload.url))).status).toBe(200)
    const put = await fetch(String(upload.url), {
      method: 'PUT',
      headers: { ...(upload.headers as Record<string, string>), origin: 'http://localhost:5173' },
      body: png,
    })
    expect(put.status).toBe(200)
    expect(put.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('deletes uploads older than their lifetime and keeps avatars, as the lifecycle rule does', async () => {
    const emulators: S3Emulator[] = []
    try {
      const start = async (options: Parameters<typeof startS3Emulator>[2]) => {
        const started = await startS3Emulator(bucket, undefined, options)
        emulators.push(started)
        return { ...started, client: s3As(emulatorClientConfig.credentials, started.endpoint) }
      }
      const exists = (client: S3Client, Key: string) =>
        client.send(new HeadObjectCommand({ Bucket: bucket, Key })).then(
          () => true,
          () => false,
        )
      const put = (client: S3Client, Key: string) =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: png }))

      // As deployed: a day. A fresh upload stays.
      const deployed = await start({})
      await put(deployed.client, `${uploads}alice/fresh`)
      expect(await deployed.expireUploads()).toEqual([])
      expect(await exists(deployed.client, `${uploads}alice/fresh`)).toBe(true)

      // Shortened: the periodic sweep takes every upload, and no avatar.
      const shortened = await start({ uploadLifetimeMs: 0, sweepEveryMs: 50 })
      await put(shortened.client, `${uploads}alice/old`)
      await put(shortened.client, `${avatars}g/kept`)
      await expect
        .poll(() => exists(shortened.client, `${uploads}alice/old`), { timeout: 10_000 })
        .toBe(false)
      expect(await exists(shortened.client, `${avatars}g/kept`)).toBe(true)
    } finally {
      await Promise.all(emulators.map((emulator) => emulator.stop()))
    }
  })
})

describe('dev mode', () => {
  it('answers a bad token request 400, saying what is wrong', async () => {
    const ask = async (body: string) => {
      const response = await fetch(`${httpUrl()}/dev/token`, { method: 'POST', body })
      return { status: response.status, message: ((await response.json()) as { message?: string }).message }
    }
    expect(await ask('alice')).toEqual({ status: 400, message: expect.stringContaining('not JSON') })
    expect(await ask('{"sub":"al')).toEqual({ status: 400, message: expect.stringContaining('not JSON') })
    expect(await ask(JSON.stringify({ sub: 'a'.repeat(5000) }))).toEqual({
      status: 400,
      message: expect.stringContaining('over 4096 bytes'),
    })
    expect(await ask('[1]')).toEqual({ status: 400, message: expect.stringContaining('not a JSON object') })
    expect(await ask('{}')).toEqual({ status: 400, message: expect.stringContaining('sub is missing') })
    expect(await ask('{"sub":"has space"}')).toEqual({
      status: 400,
      message: expect.stringContaining('1–128 characters of A-Z a-z 0-9 _ . : @ -'),
    })
    expect(await ask('{"sub":"alice","expiresIn":"soon"}')).toEqual({
      status: 400,
      message: expect.stringContaining('expiresIn'),
    })
    expect((await ask('{"sub":"alice@example.com"}')).status).toBe(200)
  })

  it('logs why it refused a connection, never the token', async () => {
    const refused = async (token?: string) => {
      const seen = logs.length
      const query = token === undefined ? '' : `?token=${token}`
      const status = await handshakeStatus(`${gateway.url.replace('http', 'ws')}/${query}`)
      const line = logs.slice(seen).find((l) => l.startsWith('refused a connection')) ?? ''
      if (token) expect(logs.join('\n')).not.toContain(token)
      return { status, line }
    }
    expect(await refused()).toEqual({
      status: 401,
      line: expect.stringMatching(/401 Unauthorized \(no token/),
    })
    expect(await refused('not-a-jwt')).toMatchObject({ line: expect.stringContaining('not a JWT') })
    const own = await fetch(`${gateway.url}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ sub: 'mallory', expiresIn: -60 }),
    }).then((r) => r.json() as Promise<{ token: string }>)
    expect(await refused(own.token)).toMatchObject({
      line: expect.stringMatching(/the token expired \d+ s ago/),
    })
    // The shared stack's tokens are signed with another key.
    expect(await refused(await tokenFor('mallory'))).toMatchObject({
      line: expect.stringContaining('signed with a key this stack does not publish'),
    })
  })

  it('keeps the dev signing key in the data folder, so tokens outlive a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'huddle-key-'))
    try {
      const file = join(dir, 'dev-signing-key.json')
      const before = await createDevTokens(file)
      const after = await createDevTokens(file)
      expect(after.jwks).toEqual(before.jwks)
      expect(JSON.stringify(after.jwks)).not.toContain('"d"')
      expect((await createDevTokens()).jwks).not.toEqual(before.jwks)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('locks the data folder against a second stack, and takes over a lock its dead owner left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'huddle-lock-'))
    try {
      const release = await lockDataDir(dir)
      await expect(lockDataDir(dir)).rejects.toThrow(DataDirInUse)
      await expect(lockDataDir(dir)).rejects.toThrow(
        `in use by another Huddle local stack (pid ${process.pid})`,
      )
      await release()

      const gone = spawnSync(process.execPath, ['-e', '']).pid
      await writeFile(join(dir, 'local-stack.lock'), `${gone}\n`)
      const takenOver = await lockDataDir(dir)
      await takenOver()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
