import { limits } from '@huddle/client/protocol'
import type { Caller } from './model.js'
import type { ConnectionStore, PresenceChange, PresenceChanges, PresenceStore } from './ports.js'

/** What opening and closing connections need: the connections, presence beside them, and its announcements. */
export interface PresenceOptions {
  connections: Pick<ConnectionStore, 'saveConnection' | 'deleteConnection'>
  store: Pick<PresenceStore, 'markOnline' | 'markLeaving'>
  /** Built on first use: only a change reaches for the queue. */
  changes: PresenceChanges
  /** How long after its last connection closes an identity still counts as online. */
  graceSeconds: number
  /** Told when a change could not be queued: the connection is kept, and members read it on their next
   * `presence` (a departure whose check never comes reads as one once its grace is long past). */
  onUnannounced: (error: unknown) => void
  now?: () => Date
}

/**
 * Connections opening and closing: what $connect and $disconnect do. An identity's first connection makes it
 * online, announced at once; its last one's close is announced only after the grace period, and only when no
 * connection opened meanwhile (a reconnect is no departure).
 */
export class Presence {
  private readonly now: () => Date

  constructor(private readonly options: PresenceOptions) {
    this.now = options.now ?? (() => new Date())
  }

  /** Records the caller's connection until the gateway closes it anyway, and announces it came online (to the
   * members of its groups: one in none has nobody to tell). */
  async connect(caller: Caller): Promise<void> {
    const connectedAt = this.now()
    const groups = await this.options.connections.saveConnection({
      ...caller,
      connectedAt: connectedAt.toISOString(),
      expiresAt: Math.ceil(connectedAt.getTime() / 1000) + limits.lifetimeSeconds,
    })
    const cameOnline = await this.options.store.markOnline(caller.iss, connectedAt.toISOString())
    if (cameOnline && groups > 0) await this.#schedule({ iss: caller.iss }, 0)
  }

  /** Forgets a closed connection; the identity's last one leaves it online for the grace period. */
  async disconnect(caller: Caller): Promise<void> {
    const { connections, store, graceSeconds } = this.options
    await connections.deleteConnection(caller.connectionId, caller.iss)
    const leftAt = this.now().toISOString()
    if (await store.markLeaving(caller.iss, leftAt))
      await this.#schedule({ iss: caller.iss, leftAt }, graceSeconds)
  }

  /** Queues a change; a queue that fails costs an announcement, never the connection. */
  async #schedule(change: PresenceChange, delaySeconds: number): Promise<void> {
    try {
      await this.options.changes.schedule(change, delaySeconds)
    } catch (error) {
      this.options.onUnannounced(error)
    }
  }
}
