import { S3Client } from '@aws-sdk/client-s3'
import type { ObjectStore } from '../../core/ports.js'
import { Uploads } from '../../core/uploads.js'
import { DynamoQuotas } from '../dynamo/quotas.js'
import { envNames } from '../env-names.js'
import { lazily, optionalEnv, requiredEnv } from '../environment.js'
import { S3Objects } from '../s3-objects.js'
import { contextFor, table } from './table.js'

/** The bucket, its client built on first use from this function's environment. */
export const objects: ObjectStore = lazily(() => {
  const endpoint = optionalEnv(envNames.s3Endpoint)
  const s3 = new S3Client({
    // A custom endpoint (an emulator) has no per-bucket DNS names.
    ...(endpoint && { endpoint, forcePathStyle: true }),
    requestChecksumCalculation: 'WHEN_REQUIRED',
  })
  return new S3Objects(s3, requiredEnv(envNames.bucketName))
})

/** Quotas on what an identity may count in a window. */
export const quotas = new DynamoQuotas(table)

/** Presigned uploads under their quotas. */
export const uploads = new Uploads({ ...contextFor(quotas), objects })
