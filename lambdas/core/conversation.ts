import type {
  AckResults,
  Attachment,
  DeleteEvent,
  EditEvent,
  GroupEvent,
  MessageEvent,
  ReceiptEvent,
  SealedAttachment,
} from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Attachments } from './attachments.js'
import type { Avatars } from './avatars.js'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { requireFitsKeys } from './encrypted-groups.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import {
  appendAt,
  joinedMembers,
  memberOf,
  moved,
  readableWindows,
  requireJoined,
  requireRecipient,
  untilLanded,
} from './group-log.js'
import type { AdminEvent, GroupState, MessageRef, Recipients, StoredEvent } from './model.js'
import type { GroupStore } from './ports.js'
import type { RateLimits } from './rate-limits.js'

const encoder = new TextEncoder()
/** A history page leaves this much of API Gateway's 128 KB for the reply around its events. */
const replyEnvelopeBytes = 4 * 1024
/** Room enough for an event's fields besides its body (ids of up to 128 characters, times, seq). */
const eventFieldsBytes = 1024

/** What is said in a group: messages, their edits and deletes, history, and receipts. */
export class Conversation {
  constructor(
    private readonly context: ChatContext<GroupStore> & WithDelivery,
    private readonly rateLimits: RateLimits,
    private readonly avatars: Avatars,
    private readonly attachments: Attachments,
  ) {}

  async message(caller: Caller, frame: Frames['message']): Promise<AckResults['message']> {
    requireBodySize(frame, 'message')
    this.attachments.requireCount(frame.attachments)
    const { store, delivery } = this.context
    const jti = frame.jti ?? this.context.newId()
    let attachments: Attachment[] | SealedAttachment[] | undefined
    return untilLanded(async (tries) => {
      // The rate token is taken beside the first read, so it adds no round trip; nothing is written
      // unless both succeed.
      const [recipients, replied] = await Promise.all([
        this.readRecipients(frame.gid, 'message'),
        frame.rid === undefined ? undefined : store.findMessage(frame.gid, frame.rid),
        tries === 0 && this.rateLimits.take(caller, 'message'),
      ])
      const { group } = recipients
      const keeping = (frame.attachments?.length ?? 0) > 0 && attachments === undefined
      if (frame.jti !== undefined && (keeping || !recipients.connections.has(caller.iss))) {
        // Sent again once stored, it is answered as stored: its sender may have left or been removed
        // since, and its uploads may be gone.
        const stored = await store.findMessage(frame.gid, jti)
        if (stored?.iss === caller.iss) return this.resent(group.gid, stored, caller, jti)
      }
      requireRecipient(recipients, caller.iss, 'message')
      requireFitsKeys(group, frame, 'message')
      if (frame.rid !== undefined && replied === undefined) {
        throw new ChatError('BAD_REQUEST', `message: rid ${frame.rid} names no message of ${frame.gid}`)
      }
      if (keeping && frame.attachments) {
        attachments = await this.attachments.keep(caller, frame.gid, jti, frame.attachments)
      }
      const at = this.context.now()
      const message = (seq: number): MessageEvent => ({
        type: 'chat.message',
        gid: frame.gid,
        iss: caller.iss,
        jti,
        body: frame.body,
        ...(frame.cipher !== undefined && { cipher: frame.cipher }),
        ...(frame.rid !== undefined && { rid: frame.rid }),
        ...(attachments && { attachments }),
        iat: at.toISOString(),
        seq,
      })
      const appended = await appendAt(group, (seq) =>
        store.appendMessage(message(seq), this.context.expiresAt(at)),
      )
      if (appended === moved) return moved
      // The recipients, with their connections, were read before the write; a fault from here on answers
      // INTERNAL, and the client's retry (same jti) finds the message stored and posts it again.
      if ('seq' in appended) {
        const event = message(appended.seq)
        await delivery.toRecipients(event, recipients, caller)
        return { gid: frame.gid, jti, iat: event.iat, seq: event.seq, duplicate: false }
      }
      const stored = appended.rejected
      if (stored === undefined) return moved
      if (stored.iss !== caller.iss) {
        throw new ChatError('CONFLICT', `message: jti ${jti} is taken in ${frame.gid}; send a fresh one`)
      }
      return this.resent(group.gid, stored, caller, jti)
    })
  }

  /**
   * A message sent again: the first attempt may have died before its fan-out, so the stored message is
   * posted again, to the members who were members at its seq and still are (not those who joined since,
   * nor those who left before it). Clients drop a seq they already have.
   */
  private async resent(
    gid: string,
    stored: MessageRef,
    caller: Caller,
    jti: string,
  ): Promise<AckResults['message']> {
    const [original, now] = await Promise.all([
      this.context.store.getEvents(gid, [stored.seq]).then(([event]) => event),
      this.readGroup(gid, 'message'),
    ])
    if (original?.type === 'chat.message' && original.deleted === undefined) {
      const then = now.members.filter((m) => (m.joinSeq ?? 0) < stored.seq)
      await this.context.delivery.toMembers(toWire(original), then, caller)
    }
    const iat = original?.iat ?? this.context.now().toISOString()
    return { gid, jti, iat, seq: stored.seq, duplicate: true }
  }

  /** Gives one of the caller's messages a new body; setting the body it has already changes nothing. */
  async edit(caller: Caller, frame: Frames['edit']): Promise<AckResults['edit']> {
    requireBodySize(frame, 'edit')
    return this.revise(caller, frame, 'edit', (at, seq) => ({
      type: 'chat.edit',
      gid: frame.gid,
      iss: caller.iss,
      jti: frame.jti,
      body: frame.body,
      ...(frame.cipher !== undefined && { cipher: frame.cipher }),
      seq,
      iat: at,
    }))
  }

  /** Deletes one of the caller's messages, leaving a tombstone; deleting it again changes nothing. */
  async delete(caller: Caller, frame: Frames['delete']): Promise<AckResults['delete']> {
    return this.revise(caller, frame, 'delete', (at, seq) => ({
      type: 'chat.delete',
      gid: frame.gid,
      iss: caller.iss,
      jti: frame.jti,
      seq,
      iat: at,
    }))
  }

  /**
   * A page of the group's log inside one of the caller's windows: newest first (before a seq, or from
   * the head), or ascending after a seq. Messages show their current state.
   */
  async history(caller: Caller, frame: Frames['history']): Promise<AckResults['history']> {
    const found = await this.readMembers(frame.gid, [caller.iss], 'history')
    const { head } = found.group
    const windows = readableWindows(memberOf(found.members, caller.iss), head)
    // Newest first reads the latest window; `after` reads on in the window it falls in (or the next one).
    const { after } = frame
    const window = (after !== undefined && windows.find((w) => w.through > after)) || windows.at(-1)
    if (window === undefined) {
      throw new ChatError('FORBIDDEN', 'history: only members who joined may read this group')
    }
    if ((frame.after ?? 0) > head || (frame.before ?? 0) > head + 1) {
      throw new ChatError('BAD_REQUEST', `history: the group's head is ${head}`)
    }
    const newestFirst = frame.after === undefined
    const range = {
      after: Math.max(window.after, frame.after ?? 0),
      through: Math.min(window.through, (frame.before ?? Number.POSITIVE_INFINITY) - 1),
      limit: frame.limit ?? limits.historyPage / 2,
      newestFirst,
    }
    const stored = await this.context.store.readEvents(frame.gid, range)
    const events = fitInReply(await this.present(frame.gid, stored))
    const last = events.at(-1)
    // Seqs have no gaps, so whether more remain follows from the last seq on the page.
    const more = last !== undefined && (newestFirst ? last.seq > range.after + 1 : last.seq < range.through)
    return { gid: frame.gid, head: window.through, events, ...(more && { next: last.seq }) }
  }

  /**
   * Moves the caller's delivered and read positions forward (read implies delivered) and tells the
   * senders of the messages they cover, and the caller's other connections.
   */
  async receipt(caller: Caller, frame: Frames['receipt']): Promise<AckResults['receipt']> {
    const { store } = this.context
    return untilLanded(async () => {
      // The caller's membership alone: a receipt costs the same in a group of ten or of ten thousand.
      const state = await this.readMembers(frame.gid, [caller.iss], 'receipt')
      const me = requireJoined(state.members, caller.iss, 'receipt')
      const { head } = state.group
      const asked = Math.max(frame.delivered ?? 0, frame.read ?? 0)
      if (asked > head)
        throw new ChatError('BAD_REQUEST', `receipt: seq ${asked} is past the group's head ${head}`)
      const was = positions(me)
      const read = Math.max(was.read, frame.read ?? 0)
      const delivered = Math.max(was.delivered, frame.delivered ?? 0, read)
      const receipt: AckResults['receipt'] = { gid: frame.gid, delivered, read }
      if (read === was.read && delivered === was.delivered) return receipt
      if (!(await store.saveReceipt(me, { delivered, read, movedAt: head }))) return moved

      // Newly read, then newly delivered (beyond the read): a sender whose message was delivered before
      // and is not read now has nothing new to hear. Senders who have left hear nothing.
      const covered = [
        { after: was.read, through: read },
        { after: Math.max(was.delivered, read), through: delivered },
      ]
      const senders = new Set(
        (
          await Promise.all(
            covered.map((range) => store.messageSenders(frame.gid, range, caller.iss, limits.unreadCount)),
          )
        ).flat(),
      )
      const stillJoined =
        senders.size === 0
          ? []
          : joinedMembers((await this.readMembers(frame.gid, [...senders], 'receipt')).members)
      const event: ReceiptEvent = { type: 'chat.receipt', gid: frame.gid, iss: caller.iss, delivered, read }
      await this.context.delivery.deliver(event, [...stillJoined, caller.iss], caller)
      return receipt
    })
  }

  /** The other joined members' positions, those that moved after seq `since` when given, a page at a time. */
  async receipts(caller: Caller, frame: Frames['receipts']): Promise<AckResults['receipts']> {
    const state = await this.readGroup(frame.gid, 'receipts')
    requireJoined(state.members, caller.iss, 'receipts')
    const { since, cursor } = frame
    const listed = state.members
      .filter(
        (m) =>
          m.status === 'joined' &&
          m.iss !== caller.iss &&
          (since === undefined || (m.movedAt ?? -1) > since) &&
          (cursor === undefined || m.iss > cursor),
      )
      .sort((a, b) => (a.iss < b.iss ? -1 : 1))
    const page = listed.slice(0, limits.listPage)
    const last = page.at(-1)
    return {
      gid: frame.gid,
      receipts: page.map((m) => ({ iss: m.iss, ...positions(m) })),
      ...(listed.length > page.length && last && { next: last.iss }),
    }
  }

  /** An edit or delete: only the sender's own live message, applied with the event in one write. */
  private async revise<A extends 'edit' | 'delete'>(
    caller: Caller,
    frame: { gid: string; jti: string; body?: string; cipher?: string },
    action: A,
    eventAt: (iat: string, seq: number) => EditEvent | DeleteEvent,
  ): Promise<AckResults[A]> {
    const { store, delivery } = this.context
    return untilLanded(async (tries) => {
      const [recipients, target] = await Promise.all([
        this.readRecipients(frame.gid, action),
        store.findMessage(frame.gid, frame.jti),
        tries === 0 && this.rateLimits.take(caller, action),
      ])
      requireRecipient(recipients, caller.iss, action)
      if (action === 'edit') requireFitsKeys(recipients.group, { ...frame, body: frame.body ?? '' }, action)
      requireOwnMessage(target, caller, frame, action)
      const at = this.context.now()
      const revision = (seq: number) => eventAt(at.toISOString(), seq)
      const appended = await appendAt(recipients.group, (seq) =>
        store.appendRevision(revision(seq), target.seq, this.context.expiresAt(at)),
      )
      if (appended === moved) return moved
      const result = { gid: frame.gid, jti: frame.jti }
      if ('seq' in appended) {
        await delivery.toRecipients(revision(appended.seq), recipients, caller)
        if (action === 'delete') {
          const [deleted] = await store.getEvents(frame.gid, [target.seq])
          if (deleted?.type === 'chat.message') await this.attachments.forget(deleted.attachments)
        }
        return { ...result, seq: appended.seq, duplicate: false }
      }
      const current = appended.rejected
      if (current?.type !== 'chat.message') {
        throw new ChatError('NOT_FOUND', `${action}: no message ${frame.jti} in ${frame.gid}`)
      }
      // A cipher edit is refused only when deleted, or when it is the message's last edit sent again.
      const done =
        action === 'delete'
          ? current.deleted !== undefined
          : frame.cipher === undefined
            ? current.body === frame.body
            : current.deleted === undefined
      // A delete asked again deletes the files again, in case a fault cut that short the first time.
      if (done && action === 'delete') await this.attachments.forget(current.attachments)
      if (done) return { ...result, seq: current.revisedSeq ?? current.seq, duplicate: true }
      if (current.deleted !== undefined) {
        throw new ChatError('NOT_FOUND', `${action}: message ${frame.jti} was deleted`)
      }
      return moved
    })
  }

  /** Edits in the log keep no body of their own: they show their message's current one; an update shows
   * its avatar as a fresh link. */
  private async present(gid: string, stored: StoredEvent[]): Promise<GroupEvent[]> {
    const messages = new Map(stored.flatMap((e) => (e.type === 'chat.message' ? [[e.seq, e] as const] : [])))
    const missing = new Set(
      stored.flatMap((e) => (e.type === 'chat.edit' && !messages.has(e.target) ? [e.target] : [])),
    )
    for (const event of await this.context.store.getEvents(gid, [...missing])) {
      if (event.type === 'chat.message') messages.set(event.seq, event)
    }
    return Promise.all(
      stored.map(async (event) => {
        if (isAdminEvent(event)) return this.avatars.present(event)
        if (event.type !== 'chat.edit') return toWire(event)
        // An edit's cipher is its own, as sent; it goes with its message.
        const { target, body: _, cipher, ...edit } = event
        const message = messages.get(target)
        const body = message?.body
        return {
          ...edit,
          ...(body !== undefined && { body }),
          ...(cipher !== undefined && message?.deleted === undefined && { cipher }),
        }
      }),
    )
  }

  /**
   * Read consistently: an eventually consistent read can miss a member's connection opened a moment ago, and
   * the fan-out would then pass that connection by (an append conditional on the head cannot tell: a
   * connection does not move it).
   */
  private async readGroup(gid: string, action: string): Promise<GroupState> {
    return found(await this.context.store.readGroup(gid), gid, action)
  }

  private async readRecipients(gid: string, action: string): Promise<Recipients> {
    return found(await this.context.store.readRecipients(gid), gid, action)
  }

  private async readMembers(gid: string, isses: string[], action: string): Promise<GroupState> {
    return found(await this.context.store.readMembers(gid, isses), gid, action)
  }
}

function found<T>(state: T | undefined, gid: string, action: string): T {
  if (state === undefined) throw new ChatError('NOT_FOUND', `${action}: no group ${gid}`)
  return state
}

/**
 * A body within its limit, in an event that can be posted: JSON escaping turns a control character into
 * six bytes, so a body under the limit can still make an event over API Gateway's 128 KB.
 */
function requireBodySize(
  { body, cipher = '', attachments = [] }: { body: string; cipher?: string; attachments?: unknown[] },
  action: string,
): void {
  if (encoder.encode(body).length > limits.bodyBytes) {
    throw new ChatError('TOO_LARGE', `${action}: body is over ${limits.bodyBytes} bytes`)
  }
  const around = eventFieldsBytes + cipher.length + encoder.encode(JSON.stringify(attachments)).length
  if (encoder.encode(JSON.stringify(body)).length + around > limits.postBytes) {
    throw new ChatError(
      'TOO_LARGE',
      `${action}: the event would be over ${limits.postBytes} bytes once JSON-escaped`,
    )
  }
}

function requireOwnMessage(
  target: MessageRef | undefined,
  caller: Caller,
  frame: { gid: string; jti: string },
  action: string,
): asserts target is MessageRef {
  if (target === undefined)
    throw new ChatError('NOT_FOUND', `${action}: no message ${frame.jti} in ${frame.gid}`)
  if (target.iss !== caller.iss) {
    throw new ChatError('FORBIDDEN', `${action}: only the sender of ${frame.jti} may ${action} it`)
  }
}

/** A member's positions; one that never sent a receipt has delivered and read everything up to its join. */
function positions(member: { delivered?: number; read?: number; joinSeq?: number }) {
  const start = member.joinSeq ?? 0
  return { delivered: member.delivered ?? start, read: member.read ?? start }
}

function isAdminEvent(event: StoredEvent): event is AdminEvent {
  return ['chat.update', 'chat.role', 'chat.ban', 'chat.unban'].includes(event.type)
}

/** The event as clients see it, without what the log keeps for itself. */
function toWire(event: Exclude<StoredEvent, AdminEvent>): GroupEvent {
  if (event.type === 'chat.message') {
    // A deleted message's files are gone with its body.
    const { revisedSeq: _, attachments, ...message } = event
    return message.deleted === undefined && attachments ? { ...message, attachments } : message
  }
  if (event.type === 'chat.edit' || event.type === 'chat.delete') {
    const { target: _, ...revision } = event
    return revision
  }
  return event
}

/** The leading events whose JSON fits one reply under API Gateway's 128 KB (always at least one). */
function fitInReply(events: GroupEvent[]): GroupEvent[] {
  let bytes = replyEnvelopeBytes
  const fitting: GroupEvent[] = []
  for (const event of events) {
    bytes += encoder.encode(JSON.stringify(event)).length + 1
    if (bytes > limits.postBytes && fitting.length > 0) break
    fitting.push(event)
  }
  return fitting
}
