import { actionHandler } from '../adapters/action-handler.js'
import { conversation } from '../adapters/wiring/conversation.js'

/** The `receipts` route: the other members' delivered and read positions. */
export const handler = actionHandler('receipts', (caller, frame) => conversation.receipts(caller, frame))
