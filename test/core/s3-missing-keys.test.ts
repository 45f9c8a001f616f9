import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { S3Objects } from '../../lambdas/adapters/s3-objects.js'
import { s3ErrorXml } from '../../local/access-proxies.js'
import { emulatorClientConfig } from '../../local/emulators.js'

// S3 answers a missing key 404 NoSuchKey only to a caller allowed s3:ListBucket; a function allowed only
// s3:GetObject gets 403 AccessDenied. A stub answers every read so, as S3 does to such a function.

describe('a missing key that S3 answers 403', () => {
  let server: Server
  let objects: S3Objects
  beforeAll(async () => {
    server = createServer((_request, response) => {
      response
        .writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'r1' })
        .end(s3ErrorXml('AccessDenied', 'Access Denied'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    objects = new S3Objects({
      bucket: 'bucket',
      region: 'us-east-1',
      credentials: async () => emulatorClientConfig.credentials,
      endpoint: `http://127.0.0.1:${port}`,
      readable: ['uploads/', 'files/'],
      maxAttempts: 1,
    })
  })
  afterAll(() => {
    objects?.close()
    server?.close()
  })

  it('is missing when the key is one the function may read', async () => {
    expect(await objects.inspect('uploads/alice/never-uploaded')).toBeUndefined()
    expect(await objects.read('files/g/j/0')).toBeUndefined()
  })

  it('stays AccessDenied outside what it may read, and on writes', async () => {
    await expect(objects.read('avatars/g/a.png')).rejects.toMatchObject({ name: 'AccessDenied', status: 403 })
    await expect(objects.inspect('uploadsX/a')).rejects.toMatchObject({ name: 'AccessDenied' })
    await expect(objects.delete('uploads/alice/x')).rejects.toMatchObject({ name: 'AccessDenied' })
  })
})
