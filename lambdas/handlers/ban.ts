import { actionHandler, chat } from '../adapters/handler.js'

/** The `ban` route: an admin bans an identity from a group. */
export const handler = actionHandler('ban', (caller, frame) => chat.administration.ban(caller, frame))
