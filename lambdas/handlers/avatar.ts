import { actionHandler, chat } from '../adapters/handler.js'

/** The `avatar` route: a presigned upload for a group image. */
export const handler = actionHandler('avatar', (caller, frame) => chat.requestAvatarUpload(caller, frame))
