import type { Action } from '@huddle/client/protocol'
import { type ChatSettings, defaultChatSettings } from '../settings.js'
import { ChatError } from './errors.js'
import type { Caller } from './model.js'
import type { RateBuckets, RateLimit } from './ports.js'

/** An identity's token buckets: one for what is said in groups, one for the other writes. */
export type RateBucket = 'messages' | 'writes'

/** Each bucket's rate and size, as the settings give them. */
export function rateLimitsOf(settings: ChatSettings): Record<RateBucket, RateLimit> {
  return {
    messages: { perSecond: settings.messagesPerSecond, burst: settings.messageBurst },
    writes: { perSecond: settings.writesPerSecond, burst: settings.writeBurst },
  }
}

/** The deployed defaults (lambdas/settings.ts); the local stack runs with them too. */
export const defaultRateLimits: Record<RateBucket, RateLimit> = rateLimitsOf(defaultChatSettings)

/**
 * The bucket each limited action draws from. Reads (history, receipts, sync, groups, members, blocks,
 * roster) draw from none: the stage's throttle alone bounds them.
 */
export const rateBuckets: Partial<Record<Action, RateBucket>> = {
  message: 'messages',
  edit: 'messages',
  delete: 'messages',
  react: 'messages',
  invite: 'writes',
  join: 'writes',
  leave: 'writes',
  remove: 'writes',
  update: 'writes',
  role: 'writes',
  ban: 'writes',
  unban: 'writes',
  deleteGroup: 'writes',
  receipt: 'writes',
  avatar: 'writes',
  attachment: 'writes',
  block: 'writes',
  unblock: 'writes',
  keys: 'writes',
  claim: 'writes',
  commit: 'writes',
  vouch: 'writes',
  refuse: 'writes',
  hidePresence: 'writes',
}

/**
 * Per-identity rate limits, kept in the store so that they hold across every function instance. The
 * `messages` bucket is taken by the use cases themselves, beside the group read they start with, so that it
 * adds no round trip; the `writes` bucket before the use case runs (`admit`).
 */
export class RateLimits {
  constructor(
    private readonly store: RateBuckets,
    private readonly limits: Record<RateBucket, RateLimit>,
    private readonly now: () => Date,
  ) {}

  /** Before a use case runs: takes the token of a write that draws from the `writes` bucket. */
  async admit(caller: Caller, action: Action): Promise<void> {
    if (rateBuckets[action] === 'writes') await this.take(caller, action)
  }

  /** Takes one token of the bucket `action` draws from, or refuses with RATE_LIMITED and when to retry. */
  async take(caller: Caller, action: Action): Promise<void> {
    const bucket = rateBuckets[action]
    if (bucket === undefined) return
    const limit = this.limits[bucket]
    const wait = await this.store.takeToken(caller.iss, bucket, limit, this.now())
    if (wait !== undefined) {
      throw new ChatError(
        'RATE_LIMITED',
        `${action}: at most ${limit.perSecond} ${bucket} a second, in bursts of up to ${limit.burst}; retry in ${wait} s`,
        wait,
      )
    }
  }
}
