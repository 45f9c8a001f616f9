import { actionHandler } from '../adapters/action-handler.js'
import { conversation } from '../adapters/wiring/conversation.js'

/** The `history` route: a page of the group's log inside the caller's window. */
export const handler = actionHandler('history', (caller, frame) => conversation.history(caller, frame))
