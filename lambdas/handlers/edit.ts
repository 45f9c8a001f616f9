import { actionHandler, chat } from '../adapters/handler.js'

/** The `edit` route: the sender gives its message a new body. */
export const handler = actionHandler('edit', (caller, frame) => chat.conversation.edit(caller, frame))
