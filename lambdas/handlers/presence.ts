import { actionHandler } from '../adapters/action-handler.js'
import { presenceSharing } from '../adapters/wiring/presence.js'

/** The `presence` route: who of a group's joined members is online, and when the others were last seen. */
export const handler = actionHandler('presence', (caller, frame) => presenceSharing.presence(caller, frame))
