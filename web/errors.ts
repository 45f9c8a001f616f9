import { ChatError } from '@huddle/client'

/** What went wrong, in words that say what to do; the server's own message is kept, as it names the field. */
export function describeError(error: unknown): string {
  if (!(error instanceof ChatError)) return error instanceof Error ? error.message : String(error)
  switch (error.code) {
    case 'FORBIDDEN':
      return `not allowed (${error.message})`
    case 'NOT_FOUND':
      return `not found (${error.message})`
    case 'TOO_LARGE':
      return `too large (${error.message})`
    case 'RATE_LIMITED':
      return `too many requests; try again in ${Math.ceil(error.retryAfter ?? 1)} s`
    case 'TIMEOUT':
      return 'the server did not answer in time; check the connection and try again'
    case 'CLOSED':
      return 'you are signed out'
    case 'TOKEN_REFUSED':
      return 'the server refused your sign-in; sign in again'
    case 'TOKEN_FAILED':
      return `your sign-in could not be renewed (${error.message})`
    case 'UPLOAD_FAILED':
      return `the avatar could not be uploaded (${error.message}); try again or pick another image`
    default:
      return error.message
  }
}
