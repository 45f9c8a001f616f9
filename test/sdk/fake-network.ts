import { ChatClient, type ConnectOptions, type SocketLike } from '@huddle/client'
import type { ServerFrame } from '@huddle/client/protocol'
import { afterEach, vi } from 'vitest'

export interface SentFrame {
  action: string
  id: string
  [field: string]: unknown
}

/** An in-memory WebSocket the test drives by hand: open, reply, push events, drop. */
export class FakeSocket implements SocketLike {
  readyState = 0
  onopen: SocketLike['onopen'] = null
  onmessage: SocketLike['onmessage'] = null
  onclose: SocketLike['onclose'] = null
  onerror: SocketLike['onerror'] = null
  readonly sent: SentFrame[] = []

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open')
    this.sent.push(JSON.parse(data))
  }

  close(code = 1000): void {
    this.drop(code)
  }

  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }

  push(frame: ServerFrame): void {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }

  ack(index: number, result: object = {}): void {
    this.push({ type: 'ack', id: this.frame(index).id, ...result } as ServerFrame)
  }

  frame(index: number): SentFrame {
    const frame = this.sent[index]
    if (!frame) throw new Error(`no frame ${index} sent (sent: ${JSON.stringify(this.sent)})`)
    return frame
  }

  drop(code = 1006): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose?.({ code, reason: '' })
  }

  refuse(): void {
    this.onerror?.({ message: 'Unexpected server response: 401' })
    this.drop()
  }
}

export function fakeNetwork() {
  const sockets: FakeSocket[] = []
  const WebSocket = class extends FakeSocket {
    constructor(url: string) {
      super(url)
      sockets.push(this)
    }
  }
  /** Waits for the n-th socket the client opens (0-based). */
  const socket = (n: number) => vi.waitFor(() => sockets[n] ?? Promise.reject(new Error(`no socket ${n}`)))
  return { WebSocket, sockets, socket }
}

export async function connected(options: Partial<ConnectOptions> = {}) {
  const net = fakeNetwork()
  const pending = ChatClient.connect('ws://huddle.test/', {
    token: 'token-1',
    WebSocket: net.WebSocket,
    reconnect: { minDelayMs: 1, maxDelayMs: 2 },
    ...options,
  })
  ;(await net.socket(0)).open()
  const client = await pending
  clients.push(client)
  return { client, net, first: await net.socket(0) }
}

const clients: ChatClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
})
