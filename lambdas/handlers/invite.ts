import { actionHandler, chat } from '../adapters/handler.js'

/** The `invite` route: creates a group or invites more members into one. */
export const handler = actionHandler('invite', (caller, frame) => chat.membership.invite(caller, frame))
