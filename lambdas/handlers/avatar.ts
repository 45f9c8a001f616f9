import { actionHandler, chat } from '../adapters/handler.js'

/** The `avatar` route: a presigned upload for a group avatar. */
export const handler = actionHandler('avatar', (caller, frame) => chat.avatars.requestUpload(caller, frame))
