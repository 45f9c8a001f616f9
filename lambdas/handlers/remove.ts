import { actionHandler, chat } from '../adapters/handler.js'

/** The `remove` route: an admin removes a member from a group. */
export const handler = actionHandler('remove', (caller, frame) => chat.administration.remove(caller, frame))
