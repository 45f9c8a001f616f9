import type { Connection } from './connection.js'
import { Listeners } from './listeners.js'
import type { TypingEvent } from './protocol.js'

/** How typing indicators behave; the defaults follow the server's window and the hold its events give. */
export interface TypingOptions {
  /** The least time between two `typing` requests to one group (default 3000, the server's window): calls in
   * between are answered at once without a request, so an app may call `group.typing()` on every keystroke. */
  sendEveryMs?: number
  /** How long a member shows as typing after its last event (default: the event's `expiresIn`). */
  holdMs?: number
}

const sendEveryMs = 3000
/** A group too large for typing is not asked again for this long. */
const tooLargeMs = 60_000

/**
 * Who is typing where, and this client's own typing. Each member's entry expires by itself when no new event
 * comes (or ends at once when its message arrives); its own `typing` requests are throttled per group.
 */
export class TypingIndicators {
  readonly #request: Connection['request']
  readonly #options: TypingOptions
  /** Per group, each typing member's expiry timer. */
  readonly #typing = new Map<string, Map<string, ReturnType<typeof setTimeout>>>()
  /** Per group, when this client may send its next `typing`. */
  readonly #nextSend = new Map<string, number>()
  readonly events: Listeners<[string, string, TypingEvent]>
  readonly changes: Listeners<[string, string[]]>

  constructor(request: Connection['request'], options: TypingOptions, report: (error: unknown) => void) {
    this.#request = request
    this.#options = options
    this.events = new Listeners(report)
    this.changes = new Listeners(report)
  }

  /** Tells the group's members this identity is typing, unless it did less than a window ago; true when sent. */
  async send(gid: string): Promise<boolean> {
    const now = Date.now()
    if ((this.#nextSend.get(gid) ?? 0) > now) return false
    this.#nextSend.set(gid, now + (this.#options.sendEveryMs ?? sendEveryMs))
    const ack = await this.#request('typing', { gid })
    if (!ack.sent) {
      // Inside the server's window (another device typed too), or a group too large for typing.
      const waitMs = ack.retryAfter === undefined ? tooLargeMs : ack.retryAfter * 1000
      this.#nextSend.set(gid, Math.max(this.#nextSend.get(gid) ?? 0, Date.now() + waitMs))
    }
    return ack.sent
  }

  /** The members typing in `gid` now, in the order they started. */
  now(gid: string): string[] {
    return [...(this.#typing.get(gid)?.keys() ?? [])]
  }

  /** A `chat.typing` event: `iss` shows as typing until its hold ends. */
  received(event: TypingEvent): void {
    const { gid, iss } = event
    const group = this.#typing.get(gid) ?? new Map<string, ReturnType<typeof setTimeout>>()
    this.#typing.set(gid, group)
    const held = group.get(iss)
    if (held !== undefined) clearTimeout(held)
    const holdMs = this.#options.holdMs ?? event.expiresIn * 1000
    group.set(
      iss,
      setTimeout(() => this.stopped(gid, iss), holdMs),
    )
    this.events.emit(iss, gid, event)
    if (held === undefined) this.changes.emit(gid, this.now(gid))
  }

  /** `iss` stopped typing in `gid`: its hold ended, or its message arrived. */
  stopped(gid: string, iss: string): void {
    const group = this.#typing.get(gid)
    const held = group?.get(iss)
    if (group === undefined || held === undefined) return
    clearTimeout(held)
    group.delete(iss)
    if (group.size === 0) this.#typing.delete(gid)
    this.changes.emit(gid, this.now(gid))
  }

  /** Forgets a group this client no longer follows. */
  forget(gid: string): void {
    for (const iss of this.now(gid)) this.stopped(gid, iss)
    this.#nextSend.delete(gid)
  }

  /** Stops every timer (the connection closed). */
  clear(): void {
    for (const gid of [...this.#typing.keys()]) this.forget(gid)
  }
}
