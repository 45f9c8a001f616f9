import { actionHandler, chat } from '../adapters/handler.js'

/** The `refuse` route: a member that cannot take in an encrypted group's latest commit undoes it. */
export const handler = actionHandler('refuse', (caller, frame) => chat.groupKeys.refuse(caller, frame))
