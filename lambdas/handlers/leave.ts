import { actionHandler, chat } from '../adapters/handler.js'

/** The `leave` route. */
export const handler = actionHandler('leave', (caller, frame) => chat.leave(caller, frame))
