import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `deleteGroup` route: an admin deletes a group; the purge worker then removes its log, memberships and
 * objects. */
export const handler = actionHandler('deleteGroup', (caller, frame) =>
  administration.deleteGroup(caller, frame),
)
