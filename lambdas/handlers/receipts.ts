import { actionHandler, chat } from '../adapters/handler.js'

/** The `receipts` route: the other members' delivered and read positions. */
export const handler = actionHandler('receipts', (caller, frame) => chat.conversation.receipts(caller, frame))
