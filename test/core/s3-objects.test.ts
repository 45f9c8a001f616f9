import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { S3Objects } from '../../lambdas/adapters/s3-objects.js'
import { bucketPrefixes } from '../../lambdas/routes.js'
import { type AccessProxy, s3ErrorXml, startS3Proxy } from '../../local/access-proxies.js'
import { emulatorClientConfig } from '../../local/emulators.js'
import { functionCredentials, Grants } from '../../local/grants.js'
import { localNames } from '../../local/stack.js'
import { png, unique } from '../support/huddle.js'

const bucket = localNames.bucket
const { uploads, avatars } = bucketPrefixes

describe('presigned URLs', () => {
  const credentials = {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  }
  const signingDate = new Date('2025-03-04T05:06:07Z')
  afterEach(() => {
    vi.useRealTimers()
  })

  // As lambdas/adapters/wiring/objects.ts built the SDK's client: path style under a custom endpoint.
  const setups = [
    { name: 'path style under a custom endpoint', region: 'us-east-1', endpoint: 'http://127.0.0.1:4569' },
    { name: 'virtual-hosted on AWS', region: 'eu-west-1', endpoint: undefined },
  ]
  const keys = [`${uploads}alice/0b6f1c1e-8d2a-4f4e-9a57-3a1f2d9c8e77`, `${avatars}g 1/odd!'()*~é+=&?.png`]
  for (const { name, region, endpoint } of setups) {
    it(`are those the SDK's presigner makes, ${name}`, async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(signingDate)
      const sdk = new S3Client({
        region,
        credentials,
        ...(endpoint && { endpoint, forcePathStyle: true }),
        requestChecksumCalculation: 'WHEN_REQUIRED',
      })
      const objects = new S3Objects({
        bucket,
        region,
        credentials: async () => credentials,
        ...(endpoint && { endpoint }),
      })
      for (const key of keys) {
        const upload = await objects.presignUpload(key, 'image/png', 1234)
        expect(upload).toEqual({
          url: await getSignedUrl(
            sdk,
            new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: 'image/png', ContentLength: 1234 }),
            { expiresIn: 300, signableHeaders: new Set(['content-type', 'content-length']) },
          ),
          headers: { 'Content-Type': 'image/png' },
          expires: new Date(signingDate.getTime() + 300_000).toISOString(),
        })
        const download = await objects.presignDownload(key)
        expect(download).toEqual({
          url: await getSignedUrl(sdk, new GetObjectCommand({ Bucket: bucket, Key: key }), {
            expiresIn: 3600,
          }),
          expires: new Date(signingDate.getTime() + 3_600_000).toISOString(),
        })
      }
      const host = endpoint ? `${endpoint}/${bucket}/` : `https://${bucket}.s3.${region}.amazonaws.com/`
      expect((await objects.presignDownload(keys[0] ?? '')).url.startsWith(`${host}${keys[0]}?`)).toBe(true)
    })
  }

  it('name the bucket under the partition’s domain (URL_SUFFIX), as the SDK does in China', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(signingDate)
    const region = 'cn-north-1'
    const key = keys[0] ?? ''
    const sdk = new S3Client({ region, credentials, requestChecksumCalculation: 'WHEN_REQUIRED' })
    const objects = new S3Objects({
      bucket,
      region,
      urlSuffix: 'amazonaws.com.cn',
      credentials: async () => credentials,
    })
    const { url } = await objects.presignDownload(key)
    expect(new URL(url).host).toBe(`${bucket}.s3.cn-north-1.amazonaws.com.cn`)
    expect(url).toBe(
      await getSignedUrl(sdk, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 3600 }),
    )
  })
})

/**
 * S3Objects against a stub that answers every request with S3's error document `answer` gives for it;
 * closed after the describe block.
 */
function againstStub(
  answer: (url: string) => [code: string, status: number],
  options: Partial<ConstructorParameters<typeof S3Objects>[0]> = {},
): () => S3Objects {
  let server: Server
  let objects: S3Objects
  beforeAll(async () => {
    server = createServer((request, response) => {
      const [code, status] = answer(request.url ?? '')
      response
        .writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'r1' })
        .end(s3ErrorXml(code, 'as S3 says it'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    objects = new S3Objects({
      bucket: 'bucket',
      region: 'us-east-1',
      credentials: async () => emulatorClientConfig.credentials,
      endpoint: `http://127.0.0.1:${port}`,
      ...options,
    })
  })
  afterAll(() => {
    objects?.close()
    server?.close()
  })
  return () => objects
}

describe('S3’s error documents', () => {
  // S3rver never answers a ranged read of an empty object; S3 answers 416 InvalidRange, as this does.
  const objectsOf = againstStub((url) =>
    url.startsWith('/bucket/empty') ? ['InvalidRange', 416] : ['NoSuchKey', 404],
  )

  it('tell a missing key and an empty object by their <Code>', async () => {
    const objects = objectsOf()
    expect(await objects.inspect('empty')).toEqual({ size: 0, mime: '', head: new Uint8Array() })
    expect(await objects.inspect('missing')).toBeUndefined()
    expect(await objects.read('missing')).toBeUndefined()
    await expect(objects.delete('missing')).rejects.toMatchObject({
      name: 'NoSuchKey',
      status: 404,
      message: expect.stringContaining('as S3 says it (attempt 1, request r1)'),
    })
  })
})

describe('a missing key that S3 answers 403', () => {
  // S3 answers a missing key 404 NoSuchKey only to a caller allowed s3:ListBucket; a function allowed only
  // s3:GetObject gets 403 AccessDenied, as this stub answers every read.
  const objectsOf = againstStub(() => ['AccessDenied', 403], {
    readable: ['uploads/', 'files/'],
    maxAttempts: 1,
  })

  it('is missing when the key is one the function may read', async () => {
    expect(await objectsOf().inspect('uploads/alice/never-uploaded')).toBeUndefined()
    expect(await objectsOf().read('files/g/j/0')).toBeUndefined()
  })

  it('stays AccessDenied outside what it may read, and on writes', async () => {
    const objects = objectsOf()
    await expect(objects.read('avatars/g/a.png')).rejects.toMatchObject({ name: 'AccessDenied', status: 403 })
    await expect(objects.inspect('uploadsX/a')).rejects.toMatchObject({ name: 'AccessDenied' })
    await expect(objects.delete('uploads/alice/x')).rejects.toMatchObject({ name: 'AccessDenied' })
  })
})

describe('the bucket through the S3 emulator, behind the access proxy', () => {
  // The invite function's key pair (the emulator knows it), granted what these calls need.
  const grants = new Grants(
    [
      {
        name: 'invite',
        access: { bucket: { read: [uploads, avatars], write: [avatars], delete: [avatars] } },
      },
    ],
    { bucket },
  )
  let proxy: AccessProxy
  let objects: S3Objects
  let admin: S3Objects
  beforeAll(async () => {
    proxy = await startS3Proxy(inject('s3Endpoint'), grants, () => {})
    const credentials = functionCredentials('invite')
    objects = new S3Objects({
      bucket,
      region: emulatorClientConfig.region,
      credentials: async () => credentials,
      endpoint: proxy.endpoint,
      // As the function's grant reads: a missing key there answers 403, as S3 does without s3:ListBucket.
      readable: [uploads, avatars],
      maxAttempts: 1,
    })
    admin = new S3Objects({
      bucket,
      region: emulatorClientConfig.region,
      credentials: async () => emulatorClientConfig.credentials,
      endpoint: inject('s3Endpoint'),
    })
  })
  afterAll(async () => {
    objects?.close()
    admin?.close()
    await proxy?.close()
  })

  /** Uploads through a presigned URL, as a client does. */
  async function upload(
    objects: S3Objects,
    key: string,
    body: Uint8Array,
    mime = 'image/png',
  ): Promise<void> {
    const { url, headers } = await objects.presignUpload(key, mime, body.length)
    const response = await fetch(url, { method: 'PUT', headers, body: new Uint8Array(body) })
    expect(response.status, await response.text()).toBe(200)
  }

  it('inspects, reads, copies and deletes objects, and tells a missing key', async () => {
    const key = `${uploads}${unique('alice')}/an image (1).png`
    await upload(admin, key, png)

    const inspected = await objects.inspect(key)
    expect(inspected).toEqual({
      size: png.length,
      mime: 'image/png',
      head: new Uint8Array(png.subarray(0, 16)),
    })
    expect(await objects.read(key)).toEqual(new Uint8Array(png))

    const copy = `${avatars}${unique('group')}/avatar!.png`
    await objects.copy(key, copy)
    expect(await objects.read(copy)).toEqual(new Uint8Array(png))
    expect((await objects.inspect(copy))?.size).toBe(png.length)

    await objects.delete(copy)
    expect(await objects.read(copy)).toBeUndefined()
    expect(await objects.inspect(copy)).toBeUndefined()

    // A download URL serves the object as it is.
    const download = await fetch((await objects.presignDownload(key)).url)
    expect(download.status).toBe(200)
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(new Uint8Array(png))
  })

  it('inspects a small object whole', async () => {
    const small = `${avatars}${unique('small')}`
    await upload(admin, small, new Uint8Array([1, 2, 3]), 'application/octet-stream')
    expect(await objects.inspect(small)).toEqual({
      size: 3,
      mime: 'application/octet-stream',
      head: new Uint8Array([1, 2, 3]),
    })
  })

  it('fails with S3’s own error type outside its grant', async () => {
    const key = `other/${unique('object')}`
    await expect(objects.read(key)).rejects.toMatchObject({ name: 'AccessDenied', status: 403 })
    await expect(objects.copy(`${avatars}x`, `${uploads}y`)).rejects.toMatchObject({
      name: 'AccessDenied',
      status: 403,
    })
  })
})
