import { actionHandler, chat } from '../adapters/handler.js'

/** The `message` route. */
export const handler = actionHandler('message', (caller, frame) => chat.message(caller, frame))
