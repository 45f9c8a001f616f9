import { actionHandler } from '../adapters/action-handler.js'
import { attachments } from '../adapters/wiring/files.js'

/** The `download` route: a presigned download of a file a message carries, for current members. */
export const handler = actionHandler('download', (caller, frame) => attachments.download(caller, frame))
