import { actionHandler } from '../adapters/action-handler.js'
import { membership } from '../adapters/wiring/membership.js'

/** The `join` route: accepts an invite. */
export const handler = actionHandler('join', (caller, frame) => membership.join(caller, frame))
