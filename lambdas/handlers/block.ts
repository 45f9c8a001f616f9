import { actionHandler, chat } from '../adapters/handler.js'

/** The `block` route: invites from an identity stop reaching the caller. */
export const handler = actionHandler('block', (caller, frame) => chat.blocks.block(caller, frame))
