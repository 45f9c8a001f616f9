import { ChatError } from './error.js'

/** Longer than a route's function may run (its timeout is under API Gateway's 29 s). */
const echoMs = 60_000

/**
 * This client's writes, by what names them, so that their events are not handed back to it: before the ack
 * (after a reconnect) or after it (a first attempt that fans out once its retry was answered).
 */
export class OwnWrites {
  /** Until when (epoch ms) each write's event is this client's own. */
  readonly #until = new Map<string, number>()

  /** Whether the event is of a write of this client's, still within its time. */
  has(write: WriteKey): boolean {
    return (this.#until.get(writeKey(write)) ?? 0) > Date.now()
  }

  /**
   * Sends a write of this client's. One that failed is forgotten, unless it timed out: it may still have been
   * stored (a retry with its jti tells), and fan out for as long as its function may run. `untilAcked`: a
   * write whose ack names its event's seq (a reaction), which the client tells apart by that seq once
   * acknowledged; its key names no single write, and the same write of another device must come through.
   */
  async track<T>(write: WriteKey, send: () => Promise<T>, untilAcked = false): Promise<T> {
    const key = writeKey(write)
    const now = Date.now()
    for (const [known, until] of this.#until) if (until <= now) this.#until.delete(known)
    this.#until.set(key, Number.POSITIVE_INFINITY)
    try {
      const result = await send()
      if (untilAcked) this.#until.delete(key)
      else this.#until.set(key, Date.now() + echoMs)
      return result
    } catch (error) {
      if (error instanceof ChatError && (error.code === 'TIMEOUT' || error.code === 'CLOSED')) {
        this.#until.set(key, Date.now() + echoMs)
      } else this.#until.delete(key)
      throw error
    }
  }
}

/** What names a write, whether read from its request or from its event. */
export interface WriteKey {
  type: string
  gid: string
  jti?: string
  body?: string
  /** Whom a role, ban, unban or removal names. */
  iss?: string
  role?: string
  /** The admin who removed `iss`. */
  by?: string
  /** A reaction's message, emoji and way. */
  target?: number
  emoji?: string
  remove?: boolean
}

function writeKey({
  type,
  gid,
  jti = '',
  body = '',
  iss = '',
  role = '',
  by,
  target,
  emoji,
  remove,
}: WriteKey): string {
  switch (type) {
    case 'chat.edit':
      return [type, gid, jti, body].join('\n')
    case 'chat.reaction':
      return [type, gid, target, emoji, remove === true].join('\n')
    case 'chat.leave':
      // A removal names whom it removed; one's own leave names nobody else.
      return [type, gid, by === undefined ? '' : iss].join('\n')
    case 'chat.role':
      return [type, gid, iss, role].join('\n')
    case 'chat.ban':
    case 'chat.unban':
      return [type, gid, iss].join('\n')
    default:
      return [type, gid, jti].join('\n')
  }
}
