import { ChatError } from './error.js'
import { limits, type ReactionEvent } from './protocol.js'

/** One emoji on a message: how many members reacted with it, whether this identity did, and who. */
export interface ReactionSummary {
  emoji: string
  count: number
  mine: boolean
  /** The members who reacted with it, in the order they did. */
  by: string[]
}

/** One member's latest word on one emoji of one message, and the seq of the event that said it. */
interface Stance {
  seq: number
  on: boolean
}

/**
 * The reactions of the messages this client has seen, folded from their events. The latest event of each
 * (message, emoji, member) wins whatever order events come in (history reads newest first, catch-up and
 * live events ascending), and an event seen twice changes nothing.
 */
export class ReactionBook {
  /** By group, then message seq, then emoji, then member. */
  readonly #groups = new Map<string, Map<number, Map<string, Map<string, Stance>>>>()

  /** Takes a reaction event in; true when it changed the message's reactions. */
  apply(event: ReactionEvent): boolean {
    let messages = this.#groups.get(event.gid)
    if (messages === undefined) {
      messages = new Map()
      this.#groups.set(event.gid, messages)
    }
    let emoji = messages.get(event.target)
    if (emoji === undefined) {
      emoji = new Map()
      messages.set(event.target, emoji)
    }
    let members = emoji.get(event.emoji)
    if (members === undefined) {
      members = new Map()
      emoji.set(event.emoji, members)
    }
    const known = members.get(event.iss)
    if (known !== undefined && known.seq >= event.seq) return false
    const on = event.remove !== true
    members.set(event.iss, { seq: event.seq, on })
    return known?.on !== on && (known !== undefined || on)
  }

  /**
   * The reactions of message `target` of `gid`, each emoji in the order it was first used. Within the
   * message's limits: an encrypted group's server cannot count sealed emoji, so a device shows the first
   * `limits.emojiPerMessage` emoji and `limits.reactionsPerMessage` reactions, in the log's order.
   */
  of(gid: string, target: number, me: string | undefined): ReactionSummary[] {
    const standing = this.#standing(gid, target)
    const summaries = new Map<string, ReactionSummary>()
    let count = 0
    for (const { emoji, iss } of standing) {
      let summary = summaries.get(emoji)
      if (summary === undefined) {
        if (summaries.size >= limits.emojiPerMessage) continue
        summary = { emoji, count: 0, mine: false, by: [] }
        summaries.set(emoji, summary)
      }
      summary.count++
      summary.by.push(iss)
      summary.mine ||= iss === me
      if (++count >= limits.reactionsPerMessage) break
    }
    return [...summaries.values()]
  }

  /** Whether member `iss` has `emoji` on message `target` of `gid`, as far as this client has seen. */
  has(gid: string, target: number, emoji: string, iss: string): boolean {
    return this.#groups.get(gid)?.get(target)?.get(emoji)?.get(iss)?.on === true
  }

  /** Fails when adding `emoji` would pass the message's limits, as this client has seen its reactions. */
  requireRoom(gid: string, target: number, emoji: string): void {
    const standing = this.#standing(gid, target)
    const kinds = new Set(standing.map((r) => r.emoji))
    if (!kinds.has(emoji) && kinds.size >= limits.emojiPerMessage) {
      throw new ChatError(
        'CONFLICT',
        `react: the message has ${limits.emojiPerMessage} different emoji already; react with one of them`,
      )
    }
    if (standing.length >= limits.reactionsPerMessage) {
      throw new ChatError(
        'CONFLICT',
        `react: the message has ${limits.reactionsPerMessage} reactions already`,
      )
    }
  }

  /** The reactions that stand on a message, in the order they were made. */
  #standing(gid: string, target: number): { emoji: string; iss: string; seq: number }[] {
    const standing: { emoji: string; iss: string; seq: number }[] = []
    for (const [emoji, members] of this.#groups.get(gid)?.get(target) ?? []) {
      for (const [iss, stance] of members) if (stance.on) standing.push({ emoji, iss, seq: stance.seq })
    }
    return standing.sort((a, b) => a.seq - b.seq)
  }

  /** Drops what is kept of a group (deleted, or this client is out of it). */
  forget(gid: string): void {
    this.#groups.delete(gid)
  }
}

/** What groups and messages need of the reactions: the book, with this identity's own ones marked `mine`. */
export interface MessageReactions {
  apply(event: ReactionEvent): boolean
  of(gid: string, target: number): ReactionSummary[]
}

/** A reaction as groups and messages ask for it. */
export interface ReactionRequest {
  gid: string
  target: number
  emoji: string
  remove?: boolean
}

const utf8 = new TextEncoder()

/** The rule the server holds a plain group's emoji to: no spaces or control characters, within the limit. */
export function isEmoji(emoji: string): boolean {
  return /^[^\s\p{Cc}]+$/u.test(emoji) && utf8.encode(emoji).length <= limits.emojiBytes
}

/** Fails unless `emoji` is one (an encrypted group's server cannot check what it seals). */
export function requireEmoji(emoji: string): void {
  if (!isEmoji(emoji)) {
    throw new ChatError(
      'BAD_REQUEST',
      `react: an emoji has no spaces or control characters and at most ${limits.emojiBytes} bytes`,
    )
  }
}
