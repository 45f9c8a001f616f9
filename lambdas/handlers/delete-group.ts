import { actionHandler } from '../adapters/action-handler.js'
import { administration } from '../adapters/wiring/administration.js'

/** The `deleteGroup` route: an admin deletes a group, its log, memberships and avatars. */
export const handler = actionHandler('deleteGroup', (caller, frame) =>
  administration.deleteGroup(caller, frame),
)
