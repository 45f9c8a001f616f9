import { actionHandler, chat } from '../adapters/handler.js'

/** The `vouch` route: publishes the next signed version of the caller's device list. */
export const handler = actionHandler('vouch', (caller, frame) => chat.deviceLists.vouch(caller, frame))
