import { actionHandler } from '../adapters/action-handler.js'
import { deviceLists } from '../adapters/wiring/key-packages.js'

/** The `vouch` route: publishes the next signed version of the caller's device list. */
export const handler = actionHandler('vouch', (caller, frame) => deviceLists.vouch(caller, frame))
