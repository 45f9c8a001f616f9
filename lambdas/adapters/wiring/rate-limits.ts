import { RateLimits, rateLimitsOf } from '../../core/rate-limits.js'
import { DynamoRateBuckets } from '../dynamo/rate-buckets.js'
import { settings, table } from './table.js'

/** Each identity's token buckets, as this function's settings size them. */
export const rateLimits = new RateLimits(
  new DynamoRateBuckets(table),
  rateLimitsOf(settings),
  () => new Date(),
)
