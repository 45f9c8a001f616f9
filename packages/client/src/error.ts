import type { ErrorCode } from './protocol.js'

/** Server error codes plus the failures only a client can see. */
export type ChatErrorCode =
  | ErrorCode
  | 'TIMEOUT'
  | 'CLOSED'
  | 'CONNECT_FAILED'
  /** The token function threw, rejected or returned no token. */
  | 'TOKEN_FAILED'
  /** The server refused the token at the handshake (HTTP 401 or 403; only where the platform shows it). */
  | 'TOKEN_REFUSED'
  | 'UPLOAD_FAILED'
  | 'DOWNLOAD_FAILED'
  | 'BAD_ATTACHMENT'
  /** An encrypted group's keys are not (or no longer) on this device; the SDK is joining them. */
  | 'NO_KEYS'
  /** A key change or Welcome names devices the group's membership does not hold. */
  | 'BAD_KEYS'
  /** This device refused the group's latest key change (see `onSecurity`): it sends nothing to the group
   * until a member's refusal undoes the change. */
  | 'KEYS_REFUSED'

/** The one error every SDK promise rejects with, so callers can branch on `code`. */
export class ChatError extends Error {
  override readonly name = 'ChatError'

  constructor(
    readonly code: ChatErrorCode,
    message: string,
    /** With RATE_LIMITED: seconds until the request may be made again. */
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}
