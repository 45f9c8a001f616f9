import { actionHandler, chat } from '../adapters/handler.js'

/** The `history` route: a page of the group's log inside the caller's window. */
export const handler = actionHandler('history', (caller, frame) => chat.conversation.history(caller, frame))
