import { actionHandler } from '../adapters/action-handler.js'
import { membership } from '../adapters/wiring/membership.js'

/** The `sync` route: where the caller stands in each group, and its pending invites again. */
export const handler = actionHandler('sync', (caller, frame) => membership.sync(caller, frame))
