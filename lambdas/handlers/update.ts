import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `update` route: an admin renames a group, changes its avatar or who may invite. */
export const handler = actionHandler('update', (caller, frame) => administration.update(caller, frame))
