import { actionHandler, chat } from '../adapters/handler.js'

/** The `devices` route: an identity's signed device lists (and, for one's own, devices awaiting approval). */
export const handler = actionHandler('devices', (caller, frame) => chat.deviceLists.read(caller, frame))
