import { actionHandler } from '../adapters/action-handler.js'
import { conversation } from '../adapters/wiring/conversation.js'

/** The `edit` route: the sender gives its message a new body. */
export const handler = actionHandler('edit', (caller, frame) => conversation.edit(caller, frame))
