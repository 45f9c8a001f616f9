import type { ErrorCode } from './protocol.js'

/** A failure the caller can act on; its code and message go back in the error reply. */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'ChatError'
  }
}
