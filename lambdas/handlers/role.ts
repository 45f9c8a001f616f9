import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `role` route: an admin makes a member an admin, or takes that back. */
export const handler = actionHandler('role', (caller, frame) => administration.role(caller, frame))
