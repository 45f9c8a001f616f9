import { actionHandler, chat } from '../adapters/handler.js'

/** The `groups` route. */
export const handler = actionHandler('groups', (caller) => chat.groups(caller))
