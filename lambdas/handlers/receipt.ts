import { actionHandler, chat } from '../adapters/handler.js'

/** The `receipt` route: moves the caller's delivered and read positions forward. */
export const handler = actionHandler('receipt', (caller, frame) => chat.conversation.receipt(caller, frame))
