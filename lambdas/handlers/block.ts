import { actionHandler } from '../adapters/action-handler.js'
import { blocks } from '../adapters/wiring/blocks.js'

/** The `block` route: invites from an identity stop reaching the caller. */
export const handler = actionHandler('block', (caller, frame) => blocks.block(caller, frame))
