import type { ErrorCode } from '@huddle/client/protocol'

/** A failure the caller can act on; its code and message (and, when limited, when to retry) go back in the
 * error reply. */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds until a RATE_LIMITED request may be made again. */
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'ChatError'
  }
}
