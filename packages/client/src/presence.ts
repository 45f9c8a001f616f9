import type { Connection } from './connection.js'
import { Listeners } from './listeners.js'
import type { PresenceEvent, PresenceView } from './protocol.js'

/** One identity's presence as this client last learned it: online, or offline since `lastSeen`; neither
 * field when it hides its presence. */
export type Presence = PresenceView

/**
 * Who is online, as `chat.presence` events and `presence` requests tell it. An event older than what is known
 * already (events from different moments may arrive out of order) changes nothing.
 */
export class PresenceBook {
  readonly #request: Connection['request']
  readonly #known = new Map<string, { view: Presence; at: string }>()
  readonly changes: Listeners<[Presence]>

  constructor(request: Connection['request'], report: (error: unknown) => void) {
    this.#request = request
    this.changes = new Listeners(report)
  }

  /** The last presence known of `iss`, or undefined when none is. */
  of(iss: string): Presence | undefined {
    return this.#known.get(iss)?.view
  }

  /** A `chat.presence` event: the identity's presence as of `at`. */
  received(event: PresenceEvent): void {
    const { type: _, at, ...view } = event
    const known = this.#known.get(view.iss)
    if (known !== undefined && known.at > at) return
    this.#known.set(view.iss, { view, at })
    this.changes.emit(view)
  }

  /** Asks the server for the presence of a group's joined members; empty when the group is too large to
   * share it in. Each one read is known from then on, and reported when it changed. */
  async read(gid: string): Promise<Presence[]> {
    const asked = new Date().toISOString()
    const ack = await this.#request('presence', { gid })
    for (const view of ack.members) {
      const known = this.#known.get(view.iss)
      // An event that arrived meanwhile is newer than this answer.
      if (known !== undefined && known.at > asked) continue
      this.#known.set(view.iss, { view, at: asked })
      if (!samePresence(known?.view, view)) this.changes.emit(view)
    }
    return ack.members
  }

  /** Hides this identity's presence from everyone, or shows it again. */
  async hide(hidden: boolean): Promise<void> {
    await this.#request('hidePresence', { hidden })
  }

  /** Forgets what is known (the connection closed: it may all have changed by the next). */
  clear(): void {
    this.#known.clear()
  }
}

function samePresence(a: Presence | undefined, b: Presence): boolean {
  return a !== undefined && a.online === b.online && a.lastSeen === b.lastSeen
}
