import { ChatError } from './error.js'

// Method syntax keeps handler parameters bivariant, so both the DOM WebSocket and `ws` fit.
type Handler<E> = { handle(event: E): void }['handle']

/** The part of a WebSocket the client uses: met by the browser's WebSocket and by the `ws` package. */
export interface SocketLike {
  readonly readyState: number
  onopen: Handler<unknown> | null
  onmessage: Handler<{ data: unknown }> | null
  onclose: Handler<{ code: number; reason: string }> | null
  onerror: Handler<unknown> | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

/** A WebSocket class: the browser's, the `ws` package's, or a test's. */
export type WebSocketConstructor = new (url: string) => SocketLike

/** A JWT, or a function called before every (re)connect so an expired token can be replaced. */
export type TokenSource = string | (() => string | Promise<string>)

/** Asks the token source for a token; a function that throws, rejects or returns no string is TOKEN_FAILED. */
export async function tokenFrom(source: TokenSource): Promise<string> {
  if (typeof source === 'string') return source
  let token: unknown
  try {
    token = await source()
  } catch (error) {
    throw new ChatError(
      'TOKEN_FAILED',
      `the token function failed (${describe(error) || 'no reason given'}): check what it relies on (a sign-in session, the network); while reconnecting the client asks it again with backoff`,
    )
  }
  if (typeof token !== 'string' || token === '') {
    throw new ChatError(
      'TOKEN_FAILED',
      `the token function returned ${token === '' ? 'an empty string' : typeof token}, not a token: have it return the JWT as a string`,
    )
  }
  return token
}

/** Where a socket, how to make one, and how long its handshake may take. */
export interface SocketTarget {
  url: string
  WebSocket: WebSocketConstructor
  timeoutMs: number
  /** Every frame the socket receives, from its first on. */
  receive(data: unknown): void
  /** Takes the socket into use the moment it opens (before anything can arrive on it); may throw to refuse it. */
  opened(socket: SocketLike): void
}

/**
 * Opens one socket with `token` in its query string: resolves once it is open (and `opened`), rejects with a ChatError that
 * says what went wrong and what to do (TOKEN_REFUSED for a 401 or 403, else CONNECT_FAILED).
 */
export function openSocket(
  { url, WebSocket, timeoutMs, receive, opened }: SocketTarget,
  token: string,
): Promise<void> {
  let socket: SocketLike
  try {
    const address = new URL(url)
    address.searchParams.set('token', token)
    socket = new WebSocket(address.toString())
  } catch {
    // Not the error's own words: they may quote the URL, token included.
    return Promise.reject(
      new ChatError('CONNECT_FAILED', `${placeOf(url)} is not a WebSocket URL: give a ws:// or wss:// one`),
    )
  }
  return new Promise((resolve, reject) => {
    let failure = ''
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(
        new ChatError(
          'CONNECT_FAILED',
          `no answer from ${placeOf(url)} within ${timeoutMs / 1000} s: check the URL and the network`,
        ),
      )
      try {
        socket.close()
      } catch {
        // A socket still connecting may refuse to close; it is dropped either way.
      }
    }, timeoutMs)
    socket.onmessage = (event) => receive(event.data)
    socket.onerror = (event) => {
      failure = describe(event)
    }
    socket.onopen = () => {
      clearTimeout(timer)
      if (settled) return socket.close(1000, 'too late')
      settled = true
      try {
        opened(socket)
        resolve()
      } catch (error) {
        socket.close(1000, 'not used')
        reject(error)
      }
    }
    socket.onclose = (event) => {
      clearTimeout(timer)
      if (settled) return
      settled = true
      reject(handshakeFailure(url, failure, event.code))
    }
  })
}

/**
 * Why a handshake failed. Node's `ws` reports the HTTP status of a refused upgrade ("Unexpected server
 * response: 401") and the network's errors; a browser reports neither, so there it is one CONNECT_FAILED.
 */
export function handshakeFailure(url: string, failure: string, code: number): ChatError {
  const place = placeOf(url)
  const status = /Unexpected server response: (\d{3})/.exec(failure)?.[1]
  if (status === '401' || status === '403') {
    return new ChatError(
      'TOKEN_REFUSED',
      `the server refused the token (HTTP ${status}): get a fresh token or sign in again`,
    )
  }
  if (status === '429') {
    return new ChatError(
      'CONNECT_FAILED',
      `${place} turned the connection away (HTTP 429, too many new connections a second): try again in a moment`,
    )
  }
  if (status) {
    return new ChatError(
      'CONNECT_FAILED',
      `${place} failed the handshake (HTTP ${status}): try again later; if it persists, see the server's logs`,
    )
  }
  if (failure) {
    return new ChatError(
      'CONNECT_FAILED',
      `cannot reach ${place} (${failure}): check the URL and that the server is running`,
    )
  }
  return new ChatError(
    'CONNECT_FAILED',
    `could not connect to ${place} (closed with code ${code}): the server is unreachable or refused the token; check the URL, then get a fresh token`,
  )
}

/** The URL without its query string, which may hold a token, nor a trailing `/`. */
function placeOf(url: string): string {
  return url.replace(/[?#].*$/s, '').replace(/\/$/, '')
}

/** The message of an Error or of a `ws` error event; a browser's error event carries none. */
export function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return 'message' in value ? String(value.message) : ''
  return String(value)
}
