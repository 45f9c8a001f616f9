import { Conversation } from '../../core/conversation.js'
import { delivery } from './delivery.js'
import { attachments, avatars } from './files.js'
import { rateLimits } from './rate-limits.js'
import { contextFor, groups } from './table.js'

/** Messages, edits, deletes, receipts and history. */
export const conversation = new Conversation(
  { ...contextFor(groups), delivery },
  rateLimits,
  avatars,
  attachments,
)
