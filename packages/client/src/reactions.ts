import type { ReactionEvent } from './protocol.js'

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

  /** The reactions of message `target` of `gid`, each emoji in the order it was first used. */
  of(gid: string, target: number, me: string | undefined): ReactionSummary[] {
    const emoji = this.#groups.get(gid)?.get(target)
    if (emoji === undefined) return []
    const summaries: ReactionSummary[] = []
    for (const [name, members] of emoji) {
      const by = [...members]
        .filter(([, stance]) => stance.on)
        .sort(([, a], [, b]) => a.seq - b.seq)
        .map(([iss]) => iss)
      if (by.length > 0)
        summaries.push({ emoji: name, count: by.length, mine: me !== undefined && by.includes(me), by })
    }
    return summaries.sort((a, b) => firstSeq(emoji, a.emoji) - firstSeq(emoji, b.emoji))
  }

  /** Drops what is kept of a group (deleted, or this client is out of it). */
  forget(gid: string): void {
    this.#groups.delete(gid)
  }
}

/** When an emoji was first used on a message among the reactions that stand. */
function firstSeq(emoji: Map<string, Map<string, Stance>>, name: string): number {
  const seqs = [...(emoji.get(name)?.values() ?? [])].filter((s) => s.on).map((s) => s.seq)
  return Math.min(...seqs)
}

/** What groups and messages need of the reactions: the book, with this identity's own ones marked `mine`. */
export interface MessageReactions {
  apply(event: ReactionEvent): boolean
  of(gid: string, target: number): ReactionSummary[]
}
