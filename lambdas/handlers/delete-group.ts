import { actionHandler, chat } from '../adapters/handler.js'

/** The `deleteGroup` route: an admin deletes a group, its log, memberships and avatars. */
export const handler = actionHandler('deleteGroup', (caller, frame) =>
  chat.administration.deleteGroup(caller, frame),
)
