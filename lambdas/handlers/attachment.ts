import { actionHandler } from '../adapters/action-handler.js'
import { attachments } from '../adapters/wiring/files.js'

/** The `attachment` route: a presigned upload for one (encrypted) file of a message. */
export const handler = actionHandler('attachment', (caller, frame) =>
  attachments.requestUpload(caller, frame),
)
