import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `bans` route: one page of the identities banned from a group, for its admins. */
export const handler = actionHandler('bans', (caller, frame) => administration.bans(caller, frame))
