import { actionHandler, chat } from '../adapters/handler.js'

/** The `join` route. */
export const handler = actionHandler('join', (caller, frame) => chat.join(caller, frame))
