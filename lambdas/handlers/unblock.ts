import { actionHandler } from '../adapters/action-handler.js'
import { blocks } from '../adapters/wiring/blocks.js'

/** The `unblock` route: lets an identity's invites reach the caller again. */
export const handler = actionHandler('unblock', (caller, frame) => blocks.unblock(caller, frame))
