import { actionHandler } from '../adapters/action-handler.js'
import { conversation } from '../adapters/wiring/conversation.js'

/** The `delete` route: the sender deletes its message, leaving a tombstone. */
export const handler = actionHandler('delete', (caller, frame) => conversation.delete(caller, frame))
