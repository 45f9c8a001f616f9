import type { ChatMessage, GroupChange, HistoryPage } from '@huddle/client'

/** What the examples print in place of an encrypted message (or edit) this device cannot decrypt. */
export const unreadableMark = '[encrypted: this device cannot read it]'

/**
 * A message's or edit's text, or the mark for one this device cannot decrypt: the SDK hands those over with
 * an empty body (a message's body is never empty otherwise), and sets `unreadable` on messages.
 */
export function textOf(event: { body?: string; unreadable?: boolean }): string {
  return event.unreadable || !event.body ? unreadableMark : event.body
}

/** What the terminal client knows of messages seen so far, so that a reply can quote the one it answers. */
export class Quotes {
  readonly #seen = new Map<string, string>()

  constructor(private readonly keep = 1000) {}

  /** Remembers `message`'s sender and text (the mark, for one this device cannot read). */
  seen(message: ChatMessage): void {
    this.#seen.delete(message.jti)
    this.#seen.set(message.jti, `${message.iss}: ${clip(message.deleted ? '(deleted)' : textOf(message))}`)
    if (this.#seen.size > this.keep) this.#seen.delete(this.#seen.keys().next().value as string)
  }

  /** ` (reply to bob: "…")`, or ` (reply)` when the message it answers was never seen here; '' for none. */
  replyOf(message: ChatMessage): string {
    if (!message.rid) return ''
    const quoted = this.#seen.get(message.rid)
    return quoted ? ` (reply to ${quoted})` : ' (reply)'
  }
}

function clip(text: string): string {
  return text.length > 60 ? `"${text.slice(0, 57)}…"` : `"${text}"`
}

/**
 * One line per event of a history page; a message's line is `messageLine` (its reply, its files) after the
 * sender, and says when it was deleted or edited.
 */
export function historyLine(
  event: HistoryPage['events'][number],
  messageLine: (m: ChatMessage) => string,
): string {
  switch (event.type) {
    case 'chat.message':
      return `  ${event.iss}${event.deleted ? ': (deleted)' : messageLine(event)}${event.edited ? ' (edited)' : ''}`
    case 'chat.join':
      return `  * ${event.iss} joined`
    case 'chat.leave':
      return event.by ? `  * ${event.by} removed ${event.iss}` : `  * ${event.iss} left`
    case 'chat.edit':
      return `  * ${event.iss} edited a message`
    case 'chat.delete':
      return `  * ${event.iss} deleted a message`
    case 'chat.reaction':
      return `  * ${event.iss} ${event.remove ? 'took back' : 'reacted'} ${event.emoji} ${event.remove ? 'from' : 'to'} message ${event.target}`
    default:
      return `  * ${describeChange(event)}`
  }
}

/** An admin's change in words: who did what. */
export function describeChange(change: GroupChange): string {
  switch (change.type) {
    case 'chat.update': {
      const what = [
        change.name !== undefined && `renamed the group to "${change.name}"`,
        change.image !== undefined && 'changed its avatar',
        change.invites !== undefined &&
          (change.invites === 'admins' ? 'let only admins invite' : 'let every member invite'),
      ]
      return `${change.iss} ${what.filter(Boolean).join(', ')}`
    }
    case 'chat.role': {
      const role = change.role === 'admin' ? 'an admin' : 'a member'
      // Without `by`, the server made the member joined the longest an admin when the last admin left.
      return change.by
        ? `${change.by} made ${change.iss} ${role}`
        : `${change.iss} became ${role}, as the last admin left`
    }
    case 'chat.ban':
      return `${change.by} banned ${change.iss}`
    case 'chat.unban':
      return `${change.by} unbanned ${change.iss}`
  }
}
