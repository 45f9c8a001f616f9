import { actionHandler, chat } from '../adapters/handler.js'

/** The `sync` route: where the caller stands in each group, and its pending invites again. */
export const handler = actionHandler('sync', (caller, frame) => chat.membership.sync(caller, frame))
