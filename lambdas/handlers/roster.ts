import { actionHandler } from '../adapters/action-handler.js'
import { groupKeys } from '../adapters/wiring/group-keys.js'

/** The `roster` route: which devices hold an encrypted group's keys, as the server knows it. */
export const handler = actionHandler('roster', (caller, frame) => groupKeys.roster(caller, frame))
