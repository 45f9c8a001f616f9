import { actionHandler, chat } from '../adapters/handler.js'

/** The `avatar` route: a presigned upload for a group avatar. */
export const handler = actionHandler('avatar', (caller, frame) =>
  chat.membership.requestAvatarUpload(caller, frame),
)
