import { type ChatOptions, ChatService } from './chat.js'
import type { Connection, ConnectionStatus, RequestOptions } from './connection.js'
import { ChatError } from './error.js'
import { Listeners } from './listeners.js'
import {
  type Ack,
  type AckResults,
  type Action,
  type ChatEvent,
  limits,
  type Requests,
  type ServerFrame,
} from './protocol.js'

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

/** How ChatClient.connect reaches the server and retries, with the chat API's own options. */
export interface ConnectOptions extends ChatOptions {
  /** A JWT, or a function called before every (re)connect so an expired token can be replaced. */
  token: string | (() => string | Promise<string>)
  /** Defaults to globalThis.WebSocket (on Node 20, where there is none, the package's Node entry uses `ws`). */
  WebSocket?: WebSocketConstructor
  /** Every request settles within this time from the call, or rejects with TIMEOUT. Default 30 s. */
  timeoutMs?: number
  /** Reconnect delays grow from minDelayMs to maxDelayMs (defaults 250 ms and 15 s), with jitter. */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number }
  /** Times a request answered INTERNAL or CONFLICT is sent again (with backoff) before it fails; a
   * RATE_LIMITED one waits as long as the server says, within `timeoutMs`. Default 3. */
  retries?: number
}

interface Pending {
  id: string
  frame: string
  /** When the request times out (epoch ms), and how often it was answered "try again" so far. */
  deadline: number
  retries: number
  /** A CONFLICT answer is final. */
  once: boolean
  settle(reply: object): void
}

/** Answers that say "the same request may succeed in a moment": every request of the protocol is safe to
 * send again (messages carry their jti). */
const retryable = new Set(['INTERNAL', 'CONFLICT', 'RATE_LIMITED'])

const OPEN = 1
const retryDelayMs = 200

/**
 * One logical connection to Huddle that survives socket drops: it reconnects with backoff,
 * queues requests while offline and re-sends the one in flight. Requests reach the server one at
 * a time, in call order, so the server handles them in that order too.
 */
export class ChatClient implements Connection {
  readonly #url: string
  readonly #options: ConnectOptions
  readonly #WebSocket: WebSocketConstructor
  readonly #report: (error: unknown) => void
  readonly #events: Listeners<[ChatEvent]>
  readonly #statuses: Listeners<[ConnectionStatus]>
  readonly #queue: Pending[] = []
  #inFlight: Pending | undefined
  #socket: SocketLike | undefined
  #status: ConnectionStatus = 'connecting'
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  /** A pause before a request answered "try again" is sent again. */
  #waiting: ReturnType<typeof setTimeout> | undefined
  #afterClose: (() => void) | undefined
  #chat: ChatService | undefined

  protected constructor(url: string, options: ConnectOptions) {
    const WebSocket = options.WebSocket ?? globalThis.WebSocket
    if (!WebSocket) throw new ChatError('CONNECT_FAILED', 'no WebSocket available: pass options.WebSocket')
    this.#url = url
    this.#options = options
    this.#WebSocket = WebSocket
    this.#report = options.onError ?? console.error
    this.#events = new Listeners(this.#report)
    this.#statuses = new Listeners(this.#report)
  }

  /** Resolves once the first connection is open; rejects with CONNECT_FAILED (e.g. a refused token). */
  static async connect(url: string, options: ConnectOptions): Promise<ChatClient> {
    const client = new ChatClient(url, options)
    await client.#open()
    return client
  }

  /** Where the connection is now; onStatus tells each change. */
  get status(): ConnectionStatus {
    return this.#status
  }

  /** The Self SDK style chat API (invites, groups, messages) on this connection; call it right after
   * connecting, since events that arrive before it exists are not kept. */
  chat(): ChatService {
    this.#chat ??= new ChatService(this, this.#options, this.#report)
    return this.#chat
  }

  /**
   * A typed raw request: resolves with the server's ack, rejects with a ChatError. `once`: a CONFLICT is
   * final, for a request the caller must make anew when another won the race (a commit, an encrypted message).
   */
  request<A extends Action>(
    action: A,
    fields: Requests[A],
    { once = false }: RequestOptions = {},
  ): Promise<AckResults[A]> {
    return new Promise((resolve, reject) => {
      if (this.#status === 'closed') return reject(new ChatError('CLOSED', 'the client is closed'))
      const id = crypto.randomUUID()
      const frame = JSON.stringify({ ...fields, action, id })
      // API Gateway would close the connection (1009) on a larger frame.
      if (new TextEncoder().encode(frame).byteLength > limits.frameBytes) {
        return reject(new ChatError('TOO_LARGE', `a request frame may not exceed ${limits.frameBytes} bytes`))
      }
      const timeoutMs = this.#options.timeoutMs ?? 30_000
      const timer = setTimeout(
        () => this.#finish(pending, new ChatError('TIMEOUT', `no reply to ${action} in time`)),
        timeoutMs,
      )
      const pending: Pending = {
        id,
        frame,
        deadline: Date.now() + timeoutMs,
        retries: 0,
        once,
        settle: (reply) => {
          clearTimeout(timer)
          if (reply instanceof ChatError) reject(reply)
          // The server answers request `id` with that action's ack.
          else resolve(reply as AckResults[A])
        },
      }
      this.#queue.push(pending)
      this.#pump()
    })
  }

  /** Every event the server pushes, before the chat API turns it into groups and messages. */
  onEvent(callback: (event: ChatEvent) => unknown): () => void {
    return this.#events.add(callback)
  }

  /** Connection changes: 'reconnecting' after a drop, 'open' once connected again, 'closed' after close(). */
  onStatus(callback: (status: ConnectionStatus) => unknown): () => void {
    return this.#statuses.add(callback)
  }

  /** Stops reconnecting, rejects every unsettled request with CLOSED and closes the socket. */
  close(): Promise<void> {
    if (this.#status === 'closed') return Promise.resolve()
    this.#setStatus('closed')
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#waiting)
    const unsettled = this.#inFlight ? [this.#inFlight, ...this.#queue] : [...this.#queue]
    this.#inFlight = undefined
    this.#queue.length = 0
    for (const pending of unsettled) pending.settle(new ChatError('CLOSED', 'the client was closed'))
    const socket = this.#socket
    if (!socket) return Promise.resolve()
    return new Promise((resolve) => {
      this.#afterClose = resolve
      socket.close(1000, 'client closed')
    })
  }

  async #open(): Promise<void> {
    const token = await this.#token()
    if (this.#status === 'closed') throw new ChatError('CLOSED', 'the client was closed')
    const url = new URL(this.#url)
    url.searchParams.set('token', token)
    const socket = new this.#WebSocket(url.toString())
    this.#socket = socket
    let opened = false
    let failure = ''
    return new Promise((resolve, reject) => {
      socket.onopen = () => {
        opened = true
        this.#attempt = 0
        this.#setStatus('open')
        this.#pump()
        resolve()
      }
      socket.onmessage = (event) => this.#receive(event.data)
      socket.onerror = (event) => {
        failure = describe(event)
      }
      socket.onclose = (event) => {
        if (this.#socket === socket) this.#socket = undefined
        this.#afterClose?.()
        if (!opened) reject(new ChatError('CONNECT_FAILED', failure || `closed with code ${event.code}`))
        else this.#dropped()
      }
    })
  }

  async #token(): Promise<string> {
    const { token } = this.#options
    try {
      return typeof token === 'function' ? await token() : token
    } catch (error) {
      throw new ChatError('CONNECT_FAILED', `the token function failed: ${describe(error)}`)
    }
  }

  #dropped(): void {
    if (this.#inFlight) this.#queue.unshift(this.#inFlight)
    this.#inFlight = undefined
    if (this.#status === 'closed') return
    this.#setStatus('reconnecting')
    this.#scheduleReconnect()
  }

  #scheduleReconnect(): void {
    if (this.#status === 'closed') return
    const { minDelayMs = 250, maxDelayMs = 15_000 } = this.#options.reconnect ?? {}
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** this.#attempt++)
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2
    this.#retryTimer = setTimeout(() => this.#open().catch(() => this.#scheduleReconnect()), delay)
  }

  #pump(): void {
    const socket = this.#socket
    if (this.#inFlight || this.#waiting || !socket || socket.readyState !== OPEN) return
    const next = this.#queue.shift()
    if (!next) return
    this.#inFlight = next
    socket.send(next.frame)
  }

  #finish(pending: Pending, reply: Ack | ChatError): void {
    if (this.#inFlight === pending) this.#inFlight = undefined
    else {
      const index = this.#queue.indexOf(pending)
      if (index >= 0) this.#queue.splice(index, 1)
    }
    pending.settle(reply)
    this.#pump()
  }

  #receive(data: unknown): void {
    const frame = parseFrame(data)
    if (!frame) return
    const pending = this.#inFlight
    if (frame.type === 'ack' || frame.type === 'error') {
      if (!pending || frame.id !== pending.id) return
      if (frame.type === 'ack') this.#finish(pending, frame)
      else this.#failed(pending, new ChatError(frame.code, frame.message, frame.retryAfter))
    } else if (frame.type === gatewayError) {
      // API Gateway's own answer when the function failed or timed out: it can only be the one in flight.
      if (pending) this.#failed(pending, new ChatError('INTERNAL', `the server failed: ${frame.message}`))
    } else {
      this.#events.emit(frame)
    }
  }

  /** An error answer: sent again after a pause when it says "try again" and time is left, else final. */
  #failed(pending: Pending, error: ChatError): void {
    const limited = error.code === 'RATE_LIMITED'
    const delay = limited
      ? (error.retryAfter ?? 1) * 1000
      : retryDelayMs * 2 ** pending.retries * (1 + Math.random())
    const again =
      retryable.has(error.code) &&
      !(pending.once && error.code === 'CONFLICT') &&
      (limited || pending.retries < (this.#options.retries ?? 3))
    if (!again || Date.now() + delay >= pending.deadline) {
      this.#finish(pending, error)
      return
    }
    pending.retries++
    // It stays first in line, so the requests behind it still reach the server in call order.
    this.#inFlight = undefined
    this.#queue.unshift(pending)
    this.#waiting = setTimeout(() => {
      this.#waiting = undefined
      this.#pump()
    }, delay)
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.#statuses.emit(status)
  }
}

/** The frame API Gateway itself sends when a route's function failed: `{"message": "Internal server error", …}`. */
const gatewayError = 'gateway error'
type GatewayError = { type: typeof gatewayError; message: string }

function parseFrame(data: unknown): ServerFrame | GatewayError | undefined {
  if (typeof data !== 'string') return undefined
  try {
    const frame: unknown = JSON.parse(data)
    if (typeof frame !== 'object' || frame === null) return undefined
    // The server is the source of truth for frame shapes; only the discriminant is checked here.
    if ('type' in frame) return typeof frame.type === 'string' ? (frame as ServerFrame) : undefined
    if ('message' in frame && typeof frame.message === 'string')
      return { type: gatewayError, message: frame.message }
    return undefined
  } catch {
    return undefined
  }
}

/** The message of an Error or of a `ws` error event; a browser's error event carries none. */
function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return 'message' in value ? String(value.message) : ''
  return String(value)
}
