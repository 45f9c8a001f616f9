import type { AckResults, ReactionEvent } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { requireFitsKeys } from './encrypted-groups.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { appendAt, memberOf, moved, readableWindows, requireRecipient, untilLanded } from './group-log.js'
import type { Group, ReactedMessage } from './model.js'
import type { GroupStore } from './ports.js'
import type { RateLimits } from './rate-limits.js'

/** The store a reaction needs: the group's recipients, the caller's membership, the message and the log. */
export type ReactionStore = Pick<
  GroupStore,
  'readRecipients' | 'readMembers' | 'readReactions' | 'appendReaction'
>

/** Emoji reactions to a group's messages: each one an event of the log, applied to its message. */
export class Reactions {
  constructor(
    private readonly context: ChatContext<ReactionStore> & WithDelivery,
    private readonly rateLimits: RateLimits,
  ) {}

  /**
   * Adds the caller's emoji to a message, or takes it back. Asked again (added when it is there, removed when
   * it is not), it stores nothing and answers `duplicate`. In an encrypted group the emoji and its way are
   * sealed: the reaction is stored as sent, and the members' devices fold it (repeats and limits included).
   */
  async react(caller: Caller, frame: Frames['react']): Promise<AckResults['react']> {
    const { store, delivery } = this.context
    const remove = frame.remove === true
    return untilLanded(async (tries) => {
      const [recipients, mine] = await Promise.all([
        store.readRecipients(frame.gid),
        store.readMembers(frame.gid, [caller.iss]),
        tries === 0 && this.rateLimits.take(caller, 'react'),
      ])
      if (recipients === undefined || mine === undefined) {
        throw new ChatError('NOT_FOUND', `react: no group ${frame.gid}`)
      }
      requireRecipient(recipients, caller.iss, 'react')
      const { group } = recipients
      const content = reactionContent(group, frame)
      const windows = readableWindows(memberOf(mine.members, caller.iss), group.head)
      const readable = windows.some((w) => frame.target > w.after && frame.target <= w.through)
      // Read after the group: a reaction that lands between the reads moves the head, and the append below
      // (strict) then reads again, so the decision rests on the message as it stood at that head.
      const message = readable ? await store.readReactions(frame.gid, frame.target) : undefined
      requireLive(message, frame)
      const answer = {
        gid: frame.gid,
        target: frame.target,
        ...('emoji' in content && { ...content, remove }),
      }
      if ('emoji' in content) {
        const has = message.reactions.some((r) => r.iss === caller.iss && r.emoji === content.emoji)
        if (has !== remove) return { ...answer, duplicate: true }
        if (!remove) requireRoom(message, content.emoji)
      }
      const at = this.context.now()
      const reaction = (seq: number): ReactionEvent => ({
        type: 'chat.reaction',
        gid: frame.gid,
        iss: caller.iss,
        target: frame.target,
        emoji: 'emoji' in content ? content.emoji : '',
        ...('cipher' in content ? content : remove && { remove: true as const }),
        iat: at.toISOString(),
        seq,
      })
      const appended = await appendAt(
        group,
        (seq) => store.appendReaction(reaction(seq), this.context.expiresAt(at)),
        true,
      )
      if (appended === moved) return moved
      if ('seq' in appended) {
        await delivery.toRecipients(reaction(appended.seq), recipients, caller)
        return { ...answer, seq: appended.seq, duplicate: false }
      }
      // The message changed under the append (deleted, or reacted to): decide again on a fresh read.
      return moved
    })
  }
}

/**
 * What a reaction says in its group: the emoji in a plain group; in an encrypted group a cipher of the group at
 * its current epoch (sealing the emoji and its way), never an emoji or a `remove` in clear.
 */
function reactionContent(group: Group, frame: Frames['react']): { emoji: string } | { cipher: string } {
  if (!group.encrypted) {
    if (frame.emoji === undefined) {
      throw new ChatError('BAD_REQUEST', `react: ${group.gid} is not encrypted: send an emoji, no cipher`)
    }
    return { emoji: frame.emoji }
  }
  if (frame.cipher === undefined || frame.remove !== undefined) {
    throw new ChatError(
      'BAD_REQUEST',
      `react: ${group.gid} is encrypted: send a cipher sealing the emoji and remove, neither in clear`,
    )
  }
  requireFitsKeys(group, { body: '', cipher: frame.cipher }, 'react')
  return { cipher: frame.cipher }
}

/** Fails unless the reaction's target is a live message the caller may read. */
function requireLive(
  message: ReactedMessage | undefined,
  frame: Frames['react'],
): asserts message is ReactedMessage {
  if (message === undefined) {
    throw new ChatError('NOT_FOUND', `react: seq ${frame.target} is no message of ${frame.gid} you can read`)
  }
  if (message.deleted) {
    throw new ChatError('NOT_FOUND', `react: message ${frame.target} of ${frame.gid} was deleted`)
  }
}

/** Fails when a new reaction would pass a message's limits: emoji in all, and reactions in all. */
function requireRoom(message: ReactedMessage, emoji: string): void {
  const kinds = new Set(message.reactions.map((r) => r.emoji))
  if (!kinds.has(emoji) && kinds.size >= limits.emojiPerMessage) {
    throw new ChatError(
      'CONFLICT',
      `react: the message has ${limits.emojiPerMessage} different emoji already; react with one of them`,
    )
  }
  if (message.reactions.length >= limits.reactionsPerMessage) {
    throw new ChatError('CONFLICT', `react: the message has ${limits.reactionsPerMessage} reactions already`)
  }
}
