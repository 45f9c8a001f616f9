import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `unban` route: an admin lifts a ban. */
export const handler = actionHandler('unban', (caller, frame) => administration.unban(caller, frame))
