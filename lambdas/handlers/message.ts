import { actionHandler } from '../adapters/action-handler.js'
import { conversation } from '../adapters/wiring/conversation.js'

/** The `message` route: appends a message to the group's log and posts it to the joined members. */
export const handler = actionHandler('message', (caller, frame) => conversation.message(caller, frame))
