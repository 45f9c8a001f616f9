import { actionHandler } from '../adapters/action-handler.js'
import { membership } from '../adapters/wiring/membership.js'

/** The `invite` route: creates a group or invites more members into one. */
export const handler = actionHandler('invite', (caller, frame) => membership.invite(caller, frame))
