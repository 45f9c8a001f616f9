import { actionHandler, chat } from '../adapters/handler.js'

/** The `message` route: appends a message to the group's log and posts it to the joined members. */
export const handler = actionHandler('message', (caller, frame) => chat.conversation.message(caller, frame))
