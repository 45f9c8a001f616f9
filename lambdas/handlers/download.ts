import { actionHandler, chat } from '../adapters/handler.js'

/** The `download` route: a presigned download of a file a message carries, for current members. */
export const handler = actionHandler('download', (caller, frame) => chat.attachments.download(caller, frame))
