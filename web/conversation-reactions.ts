import type { ChatGroup, ChatMessage, ReactionSummary } from '@huddle/client'
import { announce } from './dom.js'
import { describeError } from './errors.js'
import type { LogEvent } from './lines.js'
import { withOwnReaction } from './reactions.js'

export interface ReactionHooks {
  me: string
  /** Message `seq`'s reactions changed: its chips are drawn again (when it is shown). */
  redraw(seq: number): void
  say(problem: string): void
}

/**
 * A conversation's reactions: each message's as the SDK folded them (live, on catch-up and across history
 * pages), and this identity's own adds and take-backs, shown once the server has them.
 */
export class ConversationReactions {
  readonly #group: ChatGroup
  readonly #hooks: ReactionHooks
  /** Messages as the SDK handed them (their reactions fold in as seen), and each one's reactions shown. */
  readonly #messages = new Map<number, ChatMessage>()
  readonly #reactions = new Map<number, ReactionSummary[]>()

  constructor(group: ChatGroup, hooks: ReactionHooks) {
    this.#group = group
    this.#hooks = hooks
  }

  /** Message `seq`'s reactions as shown. */
  of(seq: number): ReactionSummary[] {
    return this.#reactions.get(seq) ?? []
  }

  /** Message `seq`'s reactions are now `reactions` (another member reacted, or took one back). */
  set(seq: number, reactions: ReactionSummary[]): void {
    this.#reactions.set(seq, reactions)
    this.#hooks.redraw(seq)
  }

  /** Notes an event the conversation shows or reads; true for a reaction, which is no line of its own. */
  noted(event: LogEvent): boolean {
    if (event.type === 'chat.message' && 'reactions' in event) {
      this.#messages.set(event.seq, event)
      this.#reactions.set(event.seq, event.reactions)
    }
    if (event.type !== 'chat.reaction') return false
    // A reaction read in a page: its message (maybe on another page) has it folded in already.
    const target = this.#messages.get(event.target)
    if (target) this.set(event.target, target.reactions)
    return true
  }

  /** Adds (`on`) or takes back this identity's `emoji` on message `seq`, saying so or why not. */
  async react(seq: number, emoji: string, on: boolean): Promise<void> {
    try {
      if (on) await this.#group.react(seq, emoji)
      else await this.#group.unreact(seq, emoji)
      this.set(seq, withOwnReaction(this.of(seq), emoji, this.#hooks.me, on))
      announce(on ? `Reacted with ${emoji}` : `Reaction ${emoji} taken back`)
    } catch (error) {
      this.#hooks.say(`Reaction not ${on ? 'added' : 'taken back'}: ${describeError(error)}`)
    }
  }
}
