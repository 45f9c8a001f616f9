import { actionHandler } from '../adapters/action-handler.js'
import { avatars } from '../adapters/wiring/files.js'

/** The `avatar` route: a presigned upload for a group avatar. */
export const handler = actionHandler('avatar', (caller, frame) => avatars.requestUpload(caller, frame))
