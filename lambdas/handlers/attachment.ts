import { actionHandler, chat } from '../adapters/handler.js'

/** The `attachment` route: a presigned upload for one (encrypted) file of a message. */
export const handler = actionHandler('attachment', (caller, frame) =>
  chat.attachments.requestUpload(caller, frame),
)
