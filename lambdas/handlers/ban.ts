import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `ban` route: an admin bans an identity from a group. */
export const handler = actionHandler('ban', (caller, frame) => administration.ban(caller, frame))
