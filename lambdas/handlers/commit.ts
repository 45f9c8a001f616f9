import { actionHandler } from '../adapters/action-handler.js'
import { groupKeys } from '../adapters/wiring/group-keys.js'

/** The `commit` route: appends a change of an encrypted group's keys and posts it to the joined members. */
export const handler = actionHandler('commit', (caller, frame) => groupKeys.commit(caller, frame))
