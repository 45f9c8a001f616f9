import WebSocket from 'ws'
import { fetchDevToken } from '../local/dev-tokens.js'

/** A reply frame: the ack or error that answers one request. */
export type Reply = { type: 'ack' | 'error'; id?: string; code?: string } & Record<string, unknown>

/** Any frame that is not a reply: the events the server pushes. */
export type PushedFrame = { type: string } & Record<string, unknown>

/** A raw protocol client: requests matched to replies by id, pushed events handed to `onEvent`. */
export class BenchClient {
  /** Called for every pushed event as it arrives. */
  onEvent: (frame: PushedFrame) => void = () => {}
  private nextId = 0
  private readonly pending = new Map<string, (reply: Reply) => void>()

  private constructor(
    readonly iss: string,
    private readonly socket: WebSocket,
  ) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as PushedFrame
      if (frame.type === 'ack' || frame.type === 'error') {
        const id = typeof frame.id === 'string' ? frame.id : ''
        this.pending.get(id)?.(frame as Reply)
        this.pending.delete(id)
      } else {
        this.onEvent(frame)
      }
    })
    socket.on('close', () => {
      for (const [id, resolve] of this.pending) resolve({ type: 'error', id, code: 'CLOSED' })
      this.pending.clear()
    })
  }

  static async connect(httpUrl: string, iss: string): Promise<BenchClient> {
    const token = await fetchDevToken(httpUrl, iss)
    const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/?token=${token}`)
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return new BenchClient(iss, socket)
  }

  /** Sends one request; `onSent` runs right after the frame is handed to the socket (for timing). */
  request(action: string, fields: Record<string, unknown> = {}, onSent?: () => void): Promise<Reply> {
    const id = `r${++this.nextId}`
    const reply = new Promise<Reply>((resolve) => this.pending.set(id, resolve))
    this.socket.send(JSON.stringify({ action, id, ...fields }))
    onSent?.()
    return reply
  }

  async ok(action: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    const reply = await this.request(action, fields)
    if (reply.type !== 'ack') throw new Error(`${this.iss} ${action} failed: ${JSON.stringify(reply)}`)
    return reply
  }

  /** A round trip: the gateway writes events before it answers their posts, so all earlier ones are in. */
  async settle(): Promise<void> {
    await this.request('barrier')
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve()
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()))
    this.socket.close()
    return closed
  }
}

/** Runs `work` for each item with at most `limit` in flight, collecting the results in order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
