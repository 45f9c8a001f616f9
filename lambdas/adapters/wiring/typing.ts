import { Typing } from '../../core/typing.js'
import { DynamoRateBuckets } from '../dynamo/rate-buckets.js'
import { delivery } from './delivery.js'
import { merged } from './merged.js'
import { contextFor, groups, table } from './table.js'

/** Typing indicators: the group's recipients, each identity's typing window, and the posts. */
export const typing = new Typing({ ...contextFor(merged(groups, new DynamoRateBuckets(table))), delivery })
