import { actionHandler } from '../adapters/action-handler.js'
import { blocks } from '../adapters/wiring/blocks.js'

/** The `blocks` route: a page of the identities the caller blocks. */
export const handler = actionHandler('blocks', (caller, frame) => blocks.list(caller, frame))
