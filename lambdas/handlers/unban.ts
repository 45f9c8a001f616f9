import { actionHandler, chat } from '../adapters/handler.js'

/** The `unban` route: an admin lifts a ban. */
export const handler = actionHandler('unban', (caller, frame) => chat.administration.unban(caller, frame))
