import { actionHandler, chat } from '../adapters/handler.js'

/** The `sync` route. */
export const handler = actionHandler('sync', (caller) => chat.sync(caller))
