import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `remove` route: an admin removes a member from a group. */
export const handler = actionHandler('remove', (caller, frame) => administration.remove(caller, frame))
