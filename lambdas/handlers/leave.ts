import { actionHandler } from '../adapters/action-handler.js'
import { membership } from '../adapters/wiring/membership.js'

/** The `leave` route: leaves a group or declines its invite. */
export const handler = actionHandler('leave', (caller, frame) => membership.leave(caller, frame))
