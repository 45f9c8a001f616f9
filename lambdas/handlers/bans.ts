import { actionHandler, chat } from '../adapters/handler.js'

/** The `bans` route: one page of the identities banned from a group, for its admins. */
export const handler = actionHandler('bans', (caller, frame) => chat.administration.bans(caller, frame))
