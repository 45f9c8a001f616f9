import { actionHandler, chat } from '../adapters/handler.js'

/** The `join` route: accepts an invite. */
export const handler = actionHandler('join', (caller, frame) => chat.membership.join(caller, frame))
