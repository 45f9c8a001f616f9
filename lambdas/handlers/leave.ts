import { actionHandler, chat } from '../adapters/handler.js'

/** The `leave` route: leaves a group or declines its invite. */
export const handler = actionHandler('leave', (caller, frame) => chat.membership.leave(caller, frame))
