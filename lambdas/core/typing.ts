import type { AckResults, TypingEvent } from '@huddle/client/protocol'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import type { GroupStore, RateBuckets } from './ports.js'

/** The token bucket of one identity's typing in one group: a bucket of one token, refilled once a window. */
export function typingBucket(gid: string): string {
  return `typing#${gid}`
}

/**
 * Typing indicators: ephemeral events to a group's other joined members, never stored (no seq, no log write,
 * not in history or catch-up). One per identity and group is shared per window: the window is a token bucket
 * of one (a single conditional update, and none at all while this instance knows the window is still
 * running), so a client that sends on every keystroke costs no more than one that throttles itself.
 */
export class Typing {
  constructor(
    private readonly context: ChatContext<Pick<GroupStore, 'readRecipients'> & RateBuckets> & WithDelivery,
  ) {}

  /** Tells the group's other joined members that the caller is typing, at most once a window. */
  async typing(caller: Caller, frame: Frames['typing']): Promise<AckResults['typing']> {
    const { store, settings, delivery } = this.context
    const { gid } = frame
    // The recipients' read that messages use: only joined members are recipients, and only they may type.
    const recipients = await store.readRecipients(gid)
    if (recipients === undefined) throw new ChatError('NOT_FOUND', `typing: no group ${gid}`)
    if (!recipients.connections.has(caller.iss)) {
      throw new ChatError(
        'FORBIDDEN',
        `typing: only the joined members of ${gid} may show they are typing there`,
      )
    }
    const window = settings.typingIntervalSeconds
    const expiresIn = 2 * window
    if (recipients.connections.size > settings.typingMaxMembers) return { gid, sent: false, expiresIn }
    const wait = await store.takeToken(
      caller.iss,
      typingBucket(gid),
      { perSecond: 1 / window, burst: 1 },
      this.context.now(),
    )
    if (wait !== undefined) return { gid, sent: false, expiresIn, retryAfter: wait }
    // The typist's own devices are not told: nobody needs to see that they are typing themselves.
    const others = new Map([...recipients.connections].filter(([iss]) => iss !== caller.iss))
    const event: TypingEvent = { type: 'chat.typing', gid, iss: caller.iss, expiresIn }
    await delivery.toRecipients(event, { group: recipients.group, connections: others }, caller)
    return { gid, sent: true, expiresIn }
  }
}
