import { actionHandler, chat } from '../adapters/handler.js'

/** The `unblock` route: lets an identity's invites reach the caller again. */
export const handler = actionHandler('unblock', (caller, frame) => chat.blocks.unblock(caller, frame))
