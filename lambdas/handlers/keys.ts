import { actionHandler, chat } from '../adapters/handler.js'

/** The `keys` route: publishes key packages of one of the caller's devices, and counts what it has left. */
export const handler = actionHandler('keys', (caller, frame) => chat.keyPackages.publish(caller, frame))
