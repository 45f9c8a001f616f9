import type { ChatSettings } from '../settings.js'
import type { Delivery } from './delivery.js'
import type { ObjectStore } from './ports.js'

export type { Caller } from './model.js'

/** What every capability shares: the store ports it uses (`S`), the clock, ids, retention, settings, reports. */
export interface ChatContext<S> {
  store: S
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

/** A capability that keeps or links objects (avatars, files, commit parts). */
export interface WithObjects {
  objects: ObjectStore
}

/** A capability that posts events to members. */
export interface WithDelivery {
  delivery: Delivery
}

const daySeconds = 24 * 60 * 60

/** The shared part of a context: the settings, with the clock, ids and the security report when given. */
export function contextOf<S>(
  store: S,
  settings: ChatSettings,
  options: {
    now?: () => Date
    newId?: () => string
    onSecurity?: (kind: string, details: Record<string, string | number>) => void
  } = {},
): ChatContext<S> {
  const retentionSeconds = settings.messageRetentionDays * daySeconds
  return {
    store,
    now: options.now ?? (() => new Date()),
    newId: options.newId ?? (() => crypto.randomUUID()),
    expiresAt: (at) => Math.ceil(at.getTime() / 1000) + retentionSeconds,
    settings,
    security: options.onSecurity ?? (() => {}),
  }
}
