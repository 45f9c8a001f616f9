import { type ChatOptions, ChatService } from './chat.js'
import type { Connection, ConnectionStatus, RequestOptions } from './connection.js'
import { ChatError } from './error.js'
import { gatewayError, parseFrame } from './frames.js'
import {
  describe,
  openSocket,
  type SocketLike,
  type TokenSource,
  tokenFrom,
  type WebSocketConstructor,
} from './handshake.js'
import { Listeners } from './listeners.js'
import { type Ack, type AckResults, type Action, type ChatEvent, limits, type Requests } from './protocol.js'

export type { SocketLike, TokenSource, WebSocketConstructor } from './handshake.js'

/** How ChatClient.connect reaches the server and retries, with the chat API's own options. */
export interface ConnectOptions extends ChatOptions {
  /** A JWT, or a function called before every (re)connect and renewal so an expired token can be replaced. */
  token: TokenSource
  /** Defaults to globalThis.WebSocket (on Node 20, where there is none, the package's Node entry uses `ws`). */
  WebSocket?: WebSocketConstructor
  /** Every request settles within this time from the call, or rejects with TIMEOUT. Default 30 s. */
  timeoutMs?: number
  /** Reconnect delays grow from minDelayMs to maxDelayMs (defaults 250 ms and 15 s), with jitter. */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number }
  /** Times a request answered INTERNAL or CONFLICT is sent again (with backoff) before it fails; a
   * RATE_LIMITED one waits as long as the server says, within `timeoutMs`. Default 3. */
  retries?: number
  /**
   * A connection is replaced by a new one (with a token asked anew) after this long, up to a tenth earlier
   * at random, ahead of API Gateway's cut at 2 hours. Default 110 minutes; false: never.
   */
  renewConnectionMs?: number | false
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
/** A few minutes under API Gateway's 2-hour cut, less the tenth the jitter may take off. */
const renewConnectionMs = 110 * 60 * 1000
/** The server refused the token at this many reconnects in a row: a fresh token would be refused too. */
const refusalsBeforeGivingUp = 2
/** Longer than API Gateway may take to answer an upgrade: its authorizer and $connect (29 s each at most). */
const handshakeTimeoutMs = 60_000
/** A renewal that found its connection gone: not a failure to report. */
const superseded = new ChatError('CLOSED', 'the connection this renewal would replace is gone')

/**
 * One logical connection to Huddle that survives socket drops: it reconnects with backoff,
 * queues requests while offline and re-sends the one in flight. Requests reach the server one at
 * a time, in call order, so the server handles them in that order too. Ahead of API Gateway's 2-hour
 * cut it opens a new connection with a fresh token and moves over to it (see renewConnectionMs).
 */
export class ChatClient implements Connection {
  readonly #url: string
  readonly #options: ConnectOptions
  readonly #WebSocket: WebSocketConstructor
  readonly #report: (error: unknown) => void
  readonly #events: Listeners<[ChatEvent]>
  readonly #statuses: Listeners<[ConnectionStatus]>
  readonly #connectionErrors: Listeners<[ChatError]>
  readonly #queue: Pending[] = []
  #inFlight: Pending | undefined
  /** The socket the request in flight was sent on: an old one, during a renewal, keeps it until it settles. */
  #inFlightOn: SocketLike | undefined
  #socket: SocketLike | undefined
  /** The socket a renewal replaced, open until the request sent on it settles. */
  #retiring: SocketLike | undefined
  #status: ConnectionStatus = 'connecting'
  #attempt = 0
  #renewals = 0
  /** Reconnects in a row whose token the server refused. */
  #refusals = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #renewTimer: ReturnType<typeof setTimeout> | undefined
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
    this.#connectionErrors = new Listeners(this.#report)
  }

  /**
   * Resolves once the first connection is open; rejects with TOKEN_FAILED (the token function failed),
   * TOKEN_REFUSED (the server refused the token, where the platform shows it) or CONNECT_FAILED.
   */
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

  /** Connection changes: 'reconnecting' after a drop, 'open' once connected again, 'closed' after close()
   * or once the client gives up (onConnectionError says why). A renewal keeps it 'open'. */
  onStatus(callback: (status: ConnectionStatus) => unknown): () => void {
    return this.#statuses.add(callback)
  }

  /**
   * Each failed attempt to reconnect or renew, with what happened and what to do: TOKEN_FAILED,
   * TOKEN_REFUSED or CONNECT_FAILED. The client tries again with backoff, except after the server refused
   * the token at two reconnects in a row: then it gives up, and its status becomes 'closed'.
   */
  onConnectionError(callback: (error: ChatError) => unknown): () => void {
    return this.#connectionErrors.add(callback)
  }

  /** Stops reconnecting, rejects every unsettled request with CLOSED and closes the socket. */
  close(): Promise<void> {
    return this.#shutDown(new ChatError('CLOSED', 'the client was closed'))
  }

  #shutDown(reason: ChatError): Promise<void> {
    if (this.#status === 'closed') return Promise.resolve()
    this.#setStatus('closed')
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#renewTimer)
    clearTimeout(this.#waiting)
    const unsettled = this.#inFlight ? [this.#inFlight, ...this.#queue] : [...this.#queue]
    this.#inFlight = undefined
    this.#queue.length = 0
    for (const pending of unsettled) pending.settle(reason)
    this.#retiring?.close(1000, 'client closed')
    const socket = this.#socket
    if (!socket) return Promise.resolve()
    return new Promise((resolve) => {
      this.#afterClose = resolve
      socket.close(1000, 'client closed')
    })
  }

  /** Connects (the first time, or again after a drop) and takes the new socket into use. */
  #open(): Promise<void> {
    return this.#handshake((socket) => {
      this.#refusals = 0
      this.#attempt = 0
      this.#adopt(socket)
      this.#setStatus('open')
    })
  }

  /** A new socket with a token asked for now, handed to `opened` the moment it opens. */
  async #handshake(opened: (socket: SocketLike) => void): Promise<void> {
    const token = await tokenFrom(this.#options.token)
    if (this.#closed()) throw new ChatError('CLOSED', 'the client was closed')
    await openSocket(
      {
        url: this.#url,
        WebSocket: this.#WebSocket,
        timeoutMs: handshakeTimeoutMs,
        receive: (data) => this.#receive(data),
        opened: (socket) => {
          if (this.#closed()) throw new ChatError('CLOSED', 'the client was closed')
          opened(socket)
        },
      },
      token,
    )
  }

  /** Requests go out on `socket` from now on; its close is a drop unless a renewal replaced it first. */
  #adopt(socket: SocketLike): void {
    this.#socket = socket
    socket.onclose = () => {
      if (this.#socket === socket) {
        this.#socket = undefined
        this.#afterClose?.()
        this.#dropped()
      } else this.#retired(socket)
    }
    this.#scheduleRenewal()
    this.#pump()
  }

  #dropped(): void {
    clearTimeout(this.#renewTimer)
    if (this.#inFlight) this.#queue.unshift(this.#inFlight)
    this.#inFlight = undefined
    if (this.#status === 'closed') return
    this.#setStatus('reconnecting')
    this.#scheduleReconnect()
  }

  #scheduleReconnect(): void {
    if (this.#status === 'closed') return
    this.#retryTimer = setTimeout(
      () => this.#open().catch((error: unknown) => this.#reconnectFailed(error)),
      this.#backoff(this.#attempt++),
    )
  }

  /** Reported, then tried again; a token refused at two reconnects in a row ends the client. */
  #reconnectFailed(error: unknown): void {
    if (this.#status === 'closed') return
    const failure = error instanceof ChatError ? error : new ChatError('CONNECT_FAILED', describe(error))
    this.#refusals = failure.code === 'TOKEN_REFUSED' ? this.#refusals + 1 : 0
    if (this.#refusals < refusalsBeforeGivingUp) {
      this.#connectionErrors.emit(failure)
      this.#scheduleReconnect()
      return
    }
    const gaveUp = new ChatError(
      'TOKEN_REFUSED',
      `the server refused the token at ${this.#refusals} reconnects in a row, so the client stopped: sign in again (get a fresh token), then connect anew`,
    )
    this.#connectionErrors.emit(gaveUp)
    this.#shutDown(gaveUp).catch(this.#report)
  }

  #backoff(attempt: number): number {
    const { minDelayMs = 250, maxDelayMs = 15_000 } = this.#options.reconnect ?? {}
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** attempt)
    return ceiling / 2 + (Math.random() * ceiling) / 2
  }

  #scheduleRenewal(delay?: number): void {
    clearTimeout(this.#renewTimer)
    const every = this.#options.renewConnectionMs ?? renewConnectionMs
    if (every === false) return
    // Clients that connected together (after an outage) do not all renew at once.
    this.#renewTimer = setTimeout(() => this.#renew(), delay ?? every * (1 - Math.random() / 10))
  }

  /**
   * Make before break: a new connection opens beside the current one, requests move over to it, and the
   * old one closes once the request sent on it settles. Events that come on both are handed over once (the
   * timeline drops what it has seen); a catch-up reads any that went to neither.
   */
  async #renew(): Promise<void> {
    const current = this.#socket
    if (this.#status !== 'open' || !current) return
    try {
      await this.#handshake((socket) => {
        // It dropped meanwhile, and a reconnect is under way.
        if (this.#socket !== current) throw superseded
        this.#renewals = 0
        this.#retiring?.close(1000, 'renewed')
        this.#retiring = current
        this.#adopt(socket)
      })
    } catch (error) {
      if (this.#closed() || this.#socket !== current) return
      const failure = error instanceof ChatError ? error : new ChatError('CONNECT_FAILED', describe(error))
      this.#connectionErrors.emit(failure)
      // The current connection still works: try again until it is cut, then reconnecting takes over.
      this.#scheduleRenewal(this.#backoff(this.#renewals++))
      return
    }
    this.#chat?.catchUp().catch((error: unknown) => {
      if (!(error instanceof ChatError && (error.code === 'CLOSED' || error.code === 'TIMEOUT')))
        this.#report(error)
    })
  }

  /** A replaced socket closed: a request still waiting on it is sent again on the current one. */
  #retired(socket: SocketLike): void {
    if (this.#retiring === socket) this.#retiring = undefined
    if (this.#inFlight && this.#inFlightOn === socket) {
      this.#queue.unshift(this.#inFlight)
      this.#inFlight = undefined
      this.#pump()
    }
  }

  /** The replaced socket has no request waiting on it any more. */
  #closeRetiredWhenIdle(): void {
    const retiring = this.#retiring
    if (retiring && !(this.#inFlight && this.#inFlightOn === retiring)) {
      this.#retiring = undefined
      retiring.close(1000, 'renewed')
    }
  }

  #pump(): void {
    this.#closeRetiredWhenIdle()
    const socket = this.#socket
    if (this.#inFlight || this.#waiting || !socket || socket.readyState !== OPEN) return
    const next = this.#queue.shift()
    if (!next) return
    this.#inFlight = next
    this.#inFlightOn = socket
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
    this.#closeRetiredWhenIdle()
    this.#waiting = setTimeout(() => {
      this.#waiting = undefined
      this.#pump()
    }, delay)
  }

  /** Read afresh after an await, where the compiler would keep an earlier check's answer. */
  #closed(): boolean {
    return this.#status === 'closed'
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.#statuses.emit(status)
  }
}
