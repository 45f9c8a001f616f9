import { actionHandler } from '../adapters/action-handler.js'
import { presenceSharing } from '../adapters/wiring/presence.js'

/** The `hidePresence` route: hides the caller's presence from everyone, or shows it again. */
export const handler = actionHandler('hidePresence', (caller, frame) => presenceSharing.hide(caller, frame))
