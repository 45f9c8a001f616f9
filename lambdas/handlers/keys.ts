import { actionHandler } from '../adapters/action-handler.js'
import { keyPackages } from '../adapters/wiring/key-packages.js'

/** The `keys` route: publishes key packages of one of the caller's devices, and counts what it has left. */
export const handler = actionHandler('keys', (caller, frame) => keyPackages.publish(caller, frame))
