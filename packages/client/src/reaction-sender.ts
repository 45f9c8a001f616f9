import type { Connection } from './connection.js'
import type { GroupEncryption } from './encryption.js'
import type { OwnWrites } from './own-writes.js'
import type { AckResults } from './protocol.js'
import { type ReactionBook, type ReactionRequest, requireEmoji } from './reactions.js'
import type { Timeline } from './timeline.js'

/** What sending a reaction reaches: the connection, the group's keys, the order, the reactions seen, and
 * which writes are this client's own. */
export interface ReactionSenderParts {
  connection: Pick<Connection, 'request'>
  encryption: Pick<GroupEncryption, 'encrypted' | 'sendReaction'>
  timeline: Pick<Timeline, 'me' | 'wrote'>
  book: ReactionBook
  ownWrites: OwnWrites
}

/**
 * Sends this client's reactions; one that changed something is folded in at once and takes its place in the
 * order. In an encrypted group, where the server cannot read the emoji, this client answers a repeat itself
 * and keeps to the message's limits, as far as it has seen the message's reactions.
 */
export class ReactionSender {
  constructor(private readonly parts: ReactionSenderParts) {}

  async send(fields: ReactionRequest): Promise<AckResults['react']> {
    const { connection, encryption, timeline, book, ownWrites } = this.parts
    const { gid, target, emoji } = fields
    const remove = fields.remove === true
    const sealed = encryption.encrypted(gid)
    const known = timeline.me
    if (sealed) {
      requireEmoji(emoji)
      if (known !== undefined && book.has(gid, target, emoji, known) !== remove) {
        return { gid, target, emoji, remove, duplicate: true }
      }
      if (!remove) book.requireRoom(gid, target, emoji)
    }
    const send = () =>
      sealed
        ? encryption.sendReaction({ gid, target, emoji, remove }, (wire) => connection.request('react', wire))
        : connection.request('react', fields)
    // Another device's same reaction comes through once this one is answered: its seq tells them apart.
    const key = { type: 'chat.reaction', gid, target, emoji, remove }
    const ack = { ...(await ownWrites.track(key, send, true)), emoji, remove }
    const me = timeline.me
    if (ack.seq === undefined) return ack
    if (me !== undefined) {
      const reaction = { type: 'chat.reaction' as const, gid, iss: me, target, emoji, seq: ack.seq, iat: '' }
      book.apply(remove ? { ...reaction, remove: true } : reaction)
    }
    timeline.wrote(gid, ack.seq)
    return ack
  }
}
