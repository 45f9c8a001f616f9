import type { ObjectStore } from '../../core/ports.js'
import { Uploads } from '../../core/uploads.js'
import { routes, workers } from '../../routes.js'
import { DynamoQuotas } from '../dynamo/quotas.js'
import { envNames } from '../env-names.js'
import { lazily, optionalEnv, requiredEnv } from '../environment.js'
import { S3Objects } from '../s3-objects.js'
import { awsRegion, credentials } from './aws.js'
import { contextFor, table } from './table.js'

/** The bucket, reached with this function's credentials, built on first use from its environment. */
export const objects: ObjectStore = lazily(() => {
  const endpoint = optionalEnv(envNames.s3Endpoint)
  const urlSuffix = optionalEnv(envNames.urlSuffix)
  return new S3Objects({
    bucket: requiredEnv(envNames.bucketName),
    region: awsRegion(),
    credentials,
    ...(endpoint && { endpoint }),
    ...(urlSuffix && { urlSuffix }),
    readable: readablePrefixes,
  })
})

/**
 * The prefixes the route table lets some function read: a 403 on a key under them is a missing key. Every
 * function shares this wiring, so it is the table's union; a function reading outside its own grant fails
 * anyway (NOT_FOUND instead of INTERNAL), and the local stack's grants catch it in tests.
 */
const readablePrefixes = [
  ...new Set([...routes, ...workers].flatMap((route) => route.access.bucket?.read ?? [])),
]

/** Quotas on what an identity may count in a window. */
export const quotas = new DynamoQuotas(table)

/** Presigned uploads under their quotas. */
export const uploads = new Uploads({ ...contextFor(quotas), objects })
