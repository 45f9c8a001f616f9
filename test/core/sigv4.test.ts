import { Sha256 } from '@smithy/core/checksum'
import { SignatureV4 } from '@smithy/signature-v4'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Credentials, type RequestToSign, SigV4Signer } from '../../lambdas/adapters/sigv4.js'

// Our signer against the SDK's own (@smithy/signature-v4): the same headers and the same presigned
// queries, request for request, at a fixed clock.

const keys: Credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
}
const session: Credentials = { ...keys, sessionToken: 'IQoJb3JpZ2luX2VjEBoaCXVzLWVhc3QtMSJHMEUCIQ+/token=' }
const at = new Date('2025-03-04T05:06:07.890Z')

interface Signers {
  ours: SigV4Signer
  sdk: SignatureV4
}

function signers(service: string, region: string, credentials: Credentials): Signers {
  const uriEscapePath = service !== 's3'
  return {
    ours: new SigV4Signer({ service, region, credentials: async () => credentials, uriEscapePath }),
    sdk: new SignatureV4({ service, region, credentials, sha256: Sha256, uriEscapePath }),
  }
}

/** The request as the SDK's signer takes it. */
function sdkRequest(request: RequestToSign) {
  return {
    method: request.method,
    protocol: 'https:',
    hostname: request.headers.host ?? '',
    path: request.path,
    query: { ...request.query },
    headers: { ...request.headers },
    ...(request.body && { body: request.body }),
  }
}

async function expectSameSignature({ ours, sdk }: Signers, request: RequestToSign, when = at) {
  const expected = await sdk.sign(sdkRequest(request), { signingDate: when })
  expect(await ours.sign(request, when)).toEqual(expected.headers)
}

async function expectSamePresign(
  { ours, sdk }: Signers,
  request: RequestToSign,
  options: { expiresIn: number; signableHeaders?: Set<string> },
) {
  const expected = await sdk.presign(sdkRequest(request), { ...options, signingDate: at })
  expect(await ours.presign(request, options, at)).toEqual(expected.query)
}

const dynamoRequest = (body: string): RequestToSign => ({
  method: 'POST',
  path: '/',
  headers: {
    host: 'dynamodb.eu-west-1.amazonaws.com',
    'content-type': 'application/x-amz-json-1.0',
    'x-amz-target': 'DynamoDB_20120810.GetItem',
    'content-length': String(Buffer.byteLength(body)),
  },
  body: Buffer.from(body),
})

describe('the SigV4 signer', () => {
  it('signs DynamoDB, management API and Lambda requests as the SDK does, with and without a session', async () => {
    for (const credentials of [keys, session]) {
      await expectSameSignature(
        signers('dynamodb', 'eu-west-1', credentials),
        dynamoRequest('{"TableName":"t","Key":{"PK":{"S":"GROUP#é 1"}}}'),
      )
      const post = Buffer.from('{"type":"chat.message","body":"hi ✓"}')
      await expectSameSignature(signers('execute-api', 'us-east-1', credentials), {
        method: 'POST',
        path: '/prod/@connections/L0SM9cOFvHcCIhw%3D',
        headers: {
          host: 'abc123.execute-api.us-east-1.amazonaws.com',
          'content-type': 'application/octet-stream',
          'content-length': String(post.length),
        },
        body: post,
      })
      await expectSameSignature(signers('lambda', 'ap-southeast-2', credentials), {
        method: 'POST',
        path: '/2015-03-31/functions/huddle-fanout/invocations',
        headers: {
          host: 'lambda.ap-southeast-2.amazonaws.com',
          'content-type': 'application/json',
          'x-amz-invocation-type': 'Event',
          'content-length': '2',
        },
        body: Buffer.from('{}'),
      })
    }
  })

  it('signs S3 requests as the SDK does: keys with spaces and unicode signed as sent, queries with reserved characters', async () => {
    const s3 = signers('s3', 'us-east-1', session)
    const path = `/huddle-bucket/${['avatars', 'g 1', "odd!'()*~é+=&?.png"].map(encodeURIComponent).join('/')}`
    await expectSameSignature(s3, {
      method: 'GET',
      path,
      query: { 'x-id': 'GetObject' },
      headers: { host: '127.0.0.1:4569', range: 'bytes=0-15' },
      body: Buffer.alloc(0),
    })
    await expectSameSignature(s3, {
      method: 'PUT',
      path: '/huddle-bucket/files/a%20b',
      query: { 'x-id': 'CopyObject', 'list-type': '2', prefix: 'a b/c?d=e&f', 'marker*': "!'()~" },
      headers: {
        host: 'huddle-bucket.s3.us-east-1.amazonaws.com',
        'x-amz-copy-source': 'huddle-bucket/uploads/a b/é',
        'content-length': '0',
      },
      body: Buffer.alloc(0),
    })
    await expectSameSignature(s3, {
      method: 'DELETE',
      path: '/huddle-bucket/uploads/%E2%9C%93',
      query: { 'x-id': 'DeleteObject' },
      headers: { host: '127.0.0.1:4569', 'content-length': '0' },
      body: Buffer.alloc(0),
    })
  })

  it('folds header whitespace, leaves out the unsignable headers, keeps a given payload hash and normalises a path', async () => {
    await expectSameSignature(signers('execute-api', 'eu-central-1', keys), {
      method: 'GET',
      path: '/stage/./a//b/../c d/',
      query: { empty: '', 'a b': 'c/d', Z: 'upper' },
      headers: {
        Host: 'api.example.com',
        'X-Custom': '  two   spaces\tand\ttabs  ',
        'user-agent': 'huddle',
        'x-amzn-trace-id': 'Root=1',
        'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD',
        authorization: 'stale',
        'x-amz-date': '19990101T000000Z',
      },
    })
  })

  it('derives a new signing key on a new day and for new credentials', async () => {
    const rotating = { ...keys }
    const ours = new SigV4Signer({
      service: 'dynamodb',
      region: 'eu-west-1',
      credentials: async () => rotating,
    })
    const request = dynamoRequest('{}')
    const sign = (credentials: Credentials, when: Date) =>
      new SignatureV4({ service: 'dynamodb', region: 'eu-west-1', credentials, sha256: Sha256 })
        .sign(sdkRequest(request), { signingDate: when })
        .then((signed) => signed.headers)
    const nextDay = new Date(at.getTime() + 24 * 60 * 60 * 1000)
    expect(await ours.sign(request, at)).toEqual(await sign(keys, at))
    expect(await ours.sign(request, nextDay)).toEqual(await sign(keys, nextDay))
    rotating.secretAccessKey = 'another-secret'
    expect(await ours.sign(request, nextDay)).toEqual(await sign(rotating, nextDay))
  })

  it('presigns S3 uploads and downloads as the SDK does', async () => {
    for (const credentials of [keys, session]) {
      const s3 = signers('s3', 'eu-west-1', credentials)
      const path = `/${['uploads', 'alice', 'a b é.png'].map(encodeURIComponent).join('/')}`
      await expectSamePresign(
        s3,
        {
          method: 'PUT',
          path,
          query: { 'x-id': 'PutObject' },
          headers: {
            host: 'huddle-bucket.s3.eu-west-1.amazonaws.com',
            'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD',
            'content-type': 'image/png',
            'content-length': '1234',
          },
        },
        { expiresIn: 300, signableHeaders: new Set(['content-type', 'content-length']) },
      )
      await expectSamePresign(
        s3,
        {
          method: 'GET',
          path,
          query: { 'x-id': 'GetObject', 'response-content-disposition': 'attachment; filename="a b.png"' },
          headers: {
            host: '127.0.0.1:4569',
            'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD',
            'x-amz-checksum-mode': 'ENABLED',
          },
        },
        { expiresIn: 3600 },
      )
    }
  })

  it('refuses to presign for more than a week, as the SDK does', async () => {
    const { ours, sdk } = signers('s3', 'us-east-1', keys)
    const request: RequestToSign = { method: 'GET', path: '/b/k', headers: { host: 'b.example' } }
    await expect(sdk.presign(sdkRequest(request), { expiresIn: 604_801 })).rejects.toBeDefined()
    await expect(ours.presign(request, { expiresIn: 604_801 })).rejects.toThrow(/within a week/)
    await expectSamePresign(signers('s3', 'us-east-1', keys), request, { expiresIn: 604_800 })
  })

  it('matches the SDK on any request: methods, paths, queries and headers drawn at random', async () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 12 })
    const headerName = fc.oneof(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/),
      fc.constantFrom(
        'X-Amz-Meta-Note',
        'x-amz-content-sha256',
        'User-Agent',
        'authorization',
        'proxy-id',
        'sec-fetch',
      ),
    )
    const headerValue = fc.stringMatching(/^[ -~\t]{0,20}$/)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD'),
        fc.constantFrom('s3', 'dynamodb', 'execute-api'),
        fc.array(text, { maxLength: 4 }),
        // Not a parameter named __proto__: the SDK's canonical query collects the pairs in an object, where
        // that name sets the prototype instead, and signs something else. No request of ours has one.
        fc.dictionary(
          text.filter((name) => name !== '__proto__'),
          text,
          { maxKeys: 5 },
        ),
        fc.dictionary(headerName, headerValue, { maxKeys: 5 }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        fc.boolean(),
        fc.date({ min: new Date('2000-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }),
        async (method, service, segments, query, headers, body, withSession, when) => {
          const pair = signers(service, 'eu-west-1', withSession ? session : keys)
          const request: RequestToSign = {
            method,
            path: `/${segments.map(encodeURIComponent).join('/')}`,
            query,
            headers: { ...headers, host: 'example.amazonaws.com' },
            ...(body && { body }),
          }
          await expectSameSignature(pair, request, when)
          // A presigned URL carries no body.
          const { body: _, ...bodiless } = request
          const presigned = await pair.sdk.presign(sdkRequest(bodiless), {
            expiresIn: 900,
            signingDate: when,
          })
          expect(await pair.ours.presign(bodiless, { expiresIn: 900 }, when)).toEqual(presigned.query)
        },
      ),
      { numRuns: 300 },
    )
  })
})
