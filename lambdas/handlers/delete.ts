import { actionHandler, chat } from '../adapters/handler.js'

/** The `delete` route: the sender deletes its message, leaving a tombstone. */
export const handler = actionHandler('delete', (caller, frame) => chat.conversation.delete(caller, frame))
