import { actionHandler, chat } from '../adapters/handler.js'

/** The `blocks` route: a page of the identities the caller blocks. */
export const handler = actionHandler('blocks', (caller, frame) => chat.blocks.list(caller, frame))
