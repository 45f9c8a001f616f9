import { actionHandler } from '../adapters/action-handler.js'
import { groupKeys } from '../adapters/wiring/group-keys.js'

/** The `refuse` route: a member that cannot take in an encrypted group's latest commit undoes it. */
export const handler = actionHandler('refuse', (caller, frame) => groupKeys.refuse(caller, frame))
