import { Reactions } from '../../core/reactions.js'
import { delivery } from './delivery.js'
import { rateLimits } from './rate-limits.js'
import { contextFor, groups } from './table.js'

/** Emoji reactions to messages. */
export const reactions = new Reactions({ ...contextFor(groups), delivery }, rateLimits)
