import type { ChatSettings } from '../settings.js'
import type { Delivery } from './delivery.js'
import type { ChatStore, ObjectStore } from './ports.js'

/** Who is calling: the identity from the verified token and the connection the frame came on. */
export interface Caller {
  iss: string
  connectionId: string
}

/** What the chat capabilities share: the ports, the clock, ids and delivery. */
export interface ChatContext {
  store: ChatStore
  objects: ObjectStore
  delivery: Delivery
  now(): Date
  newId(): string
  /** Epoch seconds after which an event stored at `at` expires (the retention setting). */
  expiresAt(at: Date): number
  /** The limits this deployment enforces (lambdas/settings.ts). */
  settings: ChatSettings
  /** Reports an attempt on an encrypted group's keys that was refused (or a refusal of a commit), for the
   * operators: which group and identities, never keys or content. */
  security(kind: string, details: Record<string, string | number>): void
}
