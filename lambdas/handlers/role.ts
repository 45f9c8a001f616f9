import { actionHandler, chat } from '../adapters/handler.js'

/** The `role` route: an admin makes a member an admin, or takes that back. */
export const handler = actionHandler('role', (caller, frame) => chat.administration.role(caller, frame))
