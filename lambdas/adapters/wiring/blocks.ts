import { Blocks } from '../../core/blocks.js'
import { DynamoBlocks } from '../dynamo/blocks.js'
import { merged } from './merged.js'
import { contextFor, membershipIndex, table } from './table.js'

/** Who blocks whom, and whose invites a block keeps out. */
export const blocks = new Blocks(contextFor(merged(new DynamoBlocks(table), membershipIndex)))
