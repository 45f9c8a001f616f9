import { actionHandler, chat } from '../adapters/handler.js'

/** The `update` route: an admin renames a group, changes its avatar or who may invite. */
export const handler = actionHandler('update', (caller, frame) => chat.administration.update(caller, frame))
