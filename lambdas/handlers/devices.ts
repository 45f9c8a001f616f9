import { actionHandler } from '../adapters/action-handler.js'
import { deviceLists } from '../adapters/wiring/key-packages.js'

/** The `devices` route: an identity's signed device lists (and, for one's own, devices awaiting approval). */
export const handler = actionHandler('devices', (caller, frame) => deviceLists.read(caller, frame))
