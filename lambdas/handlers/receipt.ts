import { actionHandler } from '../adapters/action-handler.js'
import { conversation } from '../adapters/wiring/conversation.js'

/** The `receipt` route: moves the caller's delivered and read positions forward. */
export const handler = actionHandler('receipt', (caller, frame) => conversation.receipt(caller, frame))
