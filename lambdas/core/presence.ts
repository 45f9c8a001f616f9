import { limits } from '@huddle/client/protocol'
import type { Caller } from './model.js'
import type { ConnectionStore } from './ports.js'

/** Connections opening and closing: what $connect and $disconnect do. */
export class Presence {
  constructor(
    private readonly connections: Pick<ConnectionStore, 'saveConnection' | 'deleteConnection'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records the caller's connection until the gateway closes it anyway. */
  async connect(caller: Caller): Promise<void> {
    const connectedAt = this.now()
    await this.connections.saveConnection({
      ...caller,
      connectedAt: connectedAt.toISOString(),
      expiresAt: Math.ceil(connectedAt.getTime() / 1000) + limits.lifetimeSeconds,
    })
  }

  /** Forgets a closed connection. */
  async disconnect(connectionId: string): Promise<void> {
    await this.connections.deleteConnection(connectionId)
  }
}
