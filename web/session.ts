import { ChatError } from '@huddle/client'

/** The identity a JWT names (its `sub`), read without verifying: only to show who is signed in. */
export function subjectOf(token: string): string | undefined {
  try {
    const payload = token.split('.')[1] ?? ''
    const json = atob(payload.replaceAll('-', '+').replaceAll('_', '/'))
    const { sub } = JSON.parse(json) as { sub?: unknown }
    return typeof sub === 'string' ? sub : undefined
  } catch {
    return undefined
  }
}

/** What the local stack says of a token (POST /dev/check-token). */
type TokenVerdict = { accepted: true; sub: string } | { accepted: false; reason: string }

/**
 * Why a connection could not be made, in words a user can act on. A browser's WebSocket never sees the
 * handshake's 401, so the local stack is asked (POST /dev/check-token) whether and why it refuses the token.
 */
export async function explainConnectFailure(
  error: unknown,
  token: string | undefined,
  server: string,
): Promise<string> {
  if (!(error instanceof ChatError && error.code === 'CONNECT_FAILED') || token === undefined) {
    return `Could not connect: ${error instanceof Error ? error.message : String(error)}.`
  }
  const verdict = await fetch('/dev/check-token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  })
    .then((response) => (response.ok ? (response.json() as Promise<TokenVerdict>) : undefined))
    .catch(() => undefined)
  if (verdict?.accepted === false) {
    return `The server refused your token: ${verdict.reason}. Sign in again, or paste a valid token.`
  }
  if (verdict?.accepted === true) {
    return 'The server accepts your token but the connection failed. Is the local stack still running? Try again.'
  }
  return `Could not connect to ${new URL(server).host}: the server is not reachable, or it refused your token. Check your connection (locally, that \`npm start\` is running), then try again.`
}
