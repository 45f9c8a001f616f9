import { S3Client } from '@aws-sdk/client-s3'
import { afterAll, inject } from 'vitest'
import { S3Objects } from '../../lambdas/adapters/s3-objects.js'
import { emulatorClientConfig } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'

/** The run's bucket on the S3 emulator, through the SDK's client and through the adapter; both closed after
 * the file. */
export function emulatorBucket(): { s3: S3Client; bucket: S3Objects } {
  const s3 = new S3Client({ ...emulatorClientConfig, endpoint: inject('s3Endpoint'), forcePathStyle: true })
  const bucket = new S3Objects({
    bucket: localNames.bucket,
    region: emulatorClientConfig.region,
    credentials: async () => emulatorClientConfig.credentials,
    endpoint: inject('s3Endpoint'),
  })
  afterAll(() => {
    s3.destroy()
    bucket.close()
  })
  return { s3, bucket }
}
