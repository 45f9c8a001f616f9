import { type AttachmentFile, ChatAttachment, uploadFiles } from './attachment.js'
import { type Avatar, uploadAvatar } from './avatar.js'
import type { Connection, Request, RequestOptions } from './connection.js'
import type { GroupEncryption } from './encryption.js'
import { ChatError } from './error.js'
import type { GroupInfo, GroupState, MembershipStatus } from './group-info.js'
import type { CallOrder } from './order.js'
import type { Presence, PresenceBook } from './presence.js'
import type {
  AckResults,
  Attachment,
  CommitEvent,
  GroupEvent,
  GroupView,
  ImageLink,
  InvitePolicy,
  MessageEvent,
  ReceiptPosition,
  Requests,
  RevertEvent,
} from './protocol.js'
import type { MessageReactions, ReactionRequest, ReactionSummary } from './reactions.js'
import type { TypingIndicators } from './typing.js'

/** The server's ack to a message: its id, seq, server time, and whether it was a retry of one already stored. */
export type MessageReceipt = AckResults['message']

/**
 * What a message may carry besides its body. `attachments` are files to encrypt and upload first, or files
 * `group.upload()` uploaded already (sent as they are: a message sent again with its `jti` after a
 * TIMEOUT names the same objects).
 */
export interface MessageOptions {
  /** The message this one answers. */
  rid?: string
  /** The message's id (default: a fresh UUID); the same jti is stored once. */
  jti?: string
  attachments?: readonly (AttachmentFile | Attachment)[]
}

/** A member's delivered and read positions in a group: every event up to that seq. */
export interface Receipt extends ReceiptPosition {
  gid: string
}

/** A page of a group's history: messages as ChatMessage, the other events as they are on the wire. */
export interface HistoryPage {
  events: (ChatMessage | Exclude<GroupEvent, MessageEvent | CommitEvent | RevertEvent>)[]
  /** The last seq this identity may read in the group. */
  head: number
  /** Pass as `before` (newest-first pages) or `after` (ascending pages) for the next page. */
  next?: number
}

/** Writes whose ack carries the seq their event took in the group's order. */
type Write = 'message' | 'edit' | 'delete' | 'leave'

/** An admin's writes that change the group; their acks carry the seq of their event, when it changed. */
export type AdminWrite = 'remove' | 'update' | 'role' | 'ban' | 'unban'

/** What `group.update` changes: at least one of them. `image` is uploaded first, as with `chat.invite`. */
export interface GroupUpdate {
  name?: string
  image?: Avatar
  invites?: InvitePolicy
}

/** What groups and messages ask of the chat service. */
export interface ChatContext {
  request: Request
  /** Sends a write and places its seq in the group's order, so its own event is not handed back. */
  write<A extends Write>(action: A, fields: Requests[A], options?: RequestOptions): Promise<AckResults[A]>
  /** Sends messages in call order, also while some wait for their files to upload. */
  messages: CallOrder
  /** Encrypts what is sent to end-to-end encrypted groups. */
  encryption: GroupEncryption
  /** Joins, and starts the group's order at the join. */
  join(gid: string): Promise<GroupView>
  /** The seq of the last event handed to the app in the group. */
  cursor(gid: string): number | undefined
  /** Takes a view of the group (as of its `head`) into `group`, the client's one object for it. */
  seen(group: ChatGroup, view: GroupView, status: MembershipStatus): void
  /** Sends an admin write as `write` does; its change reaches the group's object in the group's order. */
  change<A extends AdminWrite>(group: ChatGroup, action: A, fields: Requests[A]): Promise<AckResults[A]>
  /** Deletes the group, and with it this client's state of it. */
  deleteGroup(gid: string): Promise<void>
  /** Who is typing in each group, and this client's own typing, throttled. */
  typing: TypingIndicators
  /** Who is online, as the server tells it. */
  presence: PresenceBook
  /** Sends a reaction; once acknowledged it is in `reactions` and in the group's order. */
  react(fields: ReactionRequest): Promise<AckResults['react']>
  /** The reactions seen so far, folded onto their messages. */
  reactions: MessageReactions
}

/** A group as the Self SDK models it; the server owns membership, so these calls are checked there. */
export class ChatGroup implements GroupState {
  readonly gid: string
  name: string
  /**
   * The group's identities: all of them in a group of up to 50, the first 50 in a larger one until
   * `loadMembers()`. The SDK refreshes it from the server's views and takes banned members out; apps that
   * show joins and leaves keep it current from onJoin and onLeave.
   */
  members: string[]
  memberCount: number
  image: ImageLink | undefined
  /** The admins among `members`, kept current by role changes; empty for an invite, which does not tell. */
  admins: string[]
  /** Who may invite more members; undefined for an invite, which does not tell, until `join()`. */
  invites: InvitePolicy | undefined
  status: MembershipStatus
  /** End-to-end encrypted (chosen at creation): the server relays ciphertext it cannot read. */
  encrypted: boolean
  /** Who invited this identity, for an invite (from onInvite, or a pending one from `chat().groups()`). */
  invitedBy: string | undefined
  /** From `chat().groups()`: messages from others after this identity's read position, and that position. */
  unread: number | undefined
  read: number | undefined
  readonly #context: ChatContext

  constructor(context: ChatContext, group: GroupInfo, status: MembershipStatus) {
    this.#context = context
    this.gid = group.gid
    this.name = group.name
    this.members = [...group.members]
    this.memberCount = group.memberCount
    this.image = group.image
    this.admins = [...group.admins]
    this.invites = group.invites
    this.status = status
    this.encrypted = group.encrypted ?? false
    this.invitedBy = group.invitedBy
  }

  /** Reads every member of the group, a page at a time, into `members`. */
  async loadMembers(): Promise<string[]> {
    const all: string[] = []
    let cursor: string | undefined
    do {
      const page = await this.#context.request('members', {
        gid: this.gid,
        ...(cursor !== undefined && { cursor }),
      })
      all.push(...page.members.map((member) => member.iss))
      cursor = page.next
    } while (cursor !== undefined)
    this.members = all
    this.memberCount = all.length
    return all
  }

  /** Accepts the invite; afterwards this identity receives the group's messages. */
  async join(): Promise<void> {
    this.#context.seen(this, await this.#context.join(this.gid), 'joined')
  }

  /** Leaves the group (or declines the invite); no more of its messages arrive. */
  async leave(): Promise<void> {
    await this.#context.write('leave', { gid: this.gid })
    this.status = 'left'
  }

  /** Removes member `iss` (admins only): it is handed its removal once, then nothing more of the group. */
  async remove(iss: string): Promise<void> {
    await this.#context.change(this, 'remove', { gid: this.gid, iss })
    if (this.members.includes(iss)) {
      this.members = this.members.filter((member) => member !== iss)
      this.memberCount--
    }
  }

  /** Declines a pending invite (never a joined group); with `block`, the inviter's invites stop too. */
  async decline(options: { block?: boolean } = {}): Promise<void> {
    if (this.status !== 'invited') {
      throw new ChatError(
        'BAD_REQUEST',
        `decline: ${this.gid} is not a pending invite (it is ${this.status})`,
      )
    }
    await this.leave()
    if (options.block && this.invitedBy) await this.#context.request('block', { iss: this.invitedBy })
  }

  /**
   * Sends `body` to every joined member, with files encrypted and uploaded first; `jti` makes a retry of
   * the same message idempotent. Messages go out in call order, each after the files of earlier ones.
   */
  message(body: string, options: MessageOptions = {}): Promise<MessageReceipt> {
    return sendMessage(this.#context, this.gid, body, options)
  }

  /**
   * Encrypts and uploads files for a message to this group, a few at a time, without sending one: pass
   * the result as `attachments`, once or again with the same `jti` after a TIMEOUT.
   */
  upload(files: readonly AttachmentFile[]): Promise<Attachment[]> {
    return uploadFiles(this.#context, this.gid, files)
  }

  /** Gives one of this identity's messages a new body. */
  edit(jti: string, body: string): Promise<AckResults['edit']> {
    return editMessage(this.#context, this.gid, jti, body)
  }

  /** Deletes one of this identity's messages; history keeps a tombstone. */
  delete(jti: string): Promise<AckResults['delete']> {
    return this.#context.write('delete', { gid: this.gid, jti })
  }

  /** Adds this identity's `emoji` to the message at `seq`; again, it changes nothing (`duplicate`). */
  react(seq: number, emoji: string): Promise<AckResults['react']> {
    return this.#context.react({ gid: this.gid, target: seq, emoji })
  }

  /** Takes this identity's `emoji` off the message at `seq`; when it is not there, nothing changes. */
  unreact(seq: number, emoji: string): Promise<AckResults['react']> {
    return this.#context.react({ gid: this.gid, target: seq, emoji, remove: true })
  }

  /**
   * Tells the other joined members this identity is typing; call it on every keystroke: it sends at most one
   * request a window and resolves false without one in between. True when the members were told.
   */
  typing(): Promise<boolean> {
    return this.#context.typing.send(this.gid)
  }

  /** The members typing in this group now; each drops out by itself when its indicator expires. */
  typingNow(): string[] {
    return this.#context.typing.now(this.gid)
  }

  /** The presence of the group's joined members (this identity among them): online, or when last seen. Empty
   * when the group is too large to share presence in. Changes then arrive through `chat.onPresence`. */
  presence(): Promise<Presence[]> {
    return this.#context.presence.read(this.gid)
  }

  /**
   * Replaces this device's keys of an end-to-end encrypted group with fresh ones (an MLS commit). The SDK does
   * so by itself when a group's keys are older than `rotateAfterMs`; apps may ask for it sooner.
   */
  rotateKeys(): Promise<void> {
    return this.#context.encryption.rotate(this.gid)
  }

  /** Invites more identities to this group. */
  async invite(member: string | string[]): Promise<void> {
    const members = typeof member === 'string' ? [member] : member
    const { group } = await this.#context.request('invite', { gid: this.gid, name: this.name, members })
    this.#context.seen(this, group, this.status)
  }

  /** Renames the group, changes its avatar or who may invite (admins only); members are handed the change. */
  async update({ name, image, invites }: GroupUpdate): Promise<void> {
    const key = image ? await uploadAvatar(this.#context, image) : undefined
    await this.#context.change(this, 'update', {
      gid: this.gid,
      ...(name !== undefined && { name }),
      ...(key !== undefined && { avatar: { key } }),
      ...(invites !== undefined && { invites }),
    })
  }

  /** Makes joined member `iss` an admin (admins only). */
  async promote(iss: string): Promise<void> {
    await this.#context.change(this, 'role', { gid: this.gid, iss, role: 'admin' })
  }

  /** Makes admin `iss` a member again (admins only; a group keeps at least one admin). */
  async demote(iss: string): Promise<void> {
    await this.#context.change(this, 'role', { gid: this.gid, iss, role: 'member' })
  }

  /** Bans `iss` (admins only): a member is removed, handed the ban as its last event; none may invite it back. */
  async ban(iss: string): Promise<void> {
    await this.#context.change(this, 'ban', { gid: this.gid, iss })
  }

  /** Lifts a ban (admins only): `iss` may be invited again. */
  async unban(iss: string): Promise<void> {
    await this.#context.change(this, 'unban', { gid: this.gid, iss })
  }

  /** Every identity banned from the group, in identity order (admins only). */
  async banned(): Promise<string[]> {
    const all: string[] = []
    let cursor: string | undefined
    do {
      const page = await this.#context.request('bans', {
        gid: this.gid,
        ...(cursor !== undefined && { cursor }),
      })
      all.push(...page.banned)
      cursor = page.next
    } while (cursor !== undefined)
    return all
  }

  /** Deletes the group with its history and avatars (admins only); its members and invitees are told. */
  async deleteGroup(): Promise<void> {
    await this.#context.deleteGroup(this.gid)
    this.status = 'left'
  }

  /**
   * A page of the group's log, newest first (from the head, or `before` a seq), or ascending `after` a
   * seq; at most `limit` (≤ 100) events. Edits and deletes are applied to the messages, and reactions are
   * folded onto theirs (`message.reactions`, whichever page the message is on).
   */
  async history(page: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryPage> {
    const { events, head, next } = await this.#context.request('history', { gid: this.gid, ...page })
    const { encryption } = this.#context
    const shown = await Promise.all(
      events.map(async (event): Promise<HistoryPage['events']> => {
        if (event.type === 'chat.message') {
          return [new ChatMessage(this.#context, await encryption.readable(event))]
        }
        if (event.type === 'chat.edit') return [await encryption.readable(event)]
        if (event.type === 'chat.reaction') {
          // An encrypted group's reaction folds from what this device kept of it; one it never opened does not.
          const readable = await encryption.readableReaction(event)
          if (readable === undefined) return []
          this.#context.reactions.apply(readable)
          return [readable]
        }
        // An encrypted group's key changes are the SDK's business, not the conversation's.
        return event.type === 'chat.commit' || event.type === 'chat.revert' ? [] : [event]
      }),
    )
    return {
      events: shown.flat(),
      head,
      ...(next !== undefined && { next }),
    }
  }

  /** Marks everything up to `seq` read (by default, up to the last event handed to the app). */
  async markRead(seq = this.#context.cursor(this.gid)): Promise<void> {
    if (seq === undefined) return
    const { read } = await this.#context.request('receipt', { gid: this.gid, read: seq })
    this.read = read
  }

  /** The other joined members' delivered and read positions. */
  receipts(): Promise<Receipt[]> {
    return allReceipts(this.#context, this.gid)
  }
}

/** A group message that can answer, edit or delete itself, so apps never look its group up. */
export class ChatMessage {
  readonly type = 'chat.message'
  readonly gid: string
  readonly iss: string
  readonly jti: string
  /** Empty for a deleted message (in history). */
  readonly body: string
  readonly rid: string | undefined
  readonly iat: string
  /** Its place in the group's order. */
  readonly seq: number
  /** When it was last edited, or deleted (history shows messages as they are now). */
  readonly edited: string | undefined
  readonly deleted: string | undefined
  /** The files it carries (none for a deleted message), each with a `download()` that decrypts it. */
  readonly attachments: ChatAttachment[]
  /**
   * In an end-to-end encrypted group, a message this device cannot decrypt (its body is empty): one sent
   * before it held the group's keys, one of its own read back from history, or one damaged on the way.
   */
  readonly unreadable: boolean
  readonly #context: ChatContext

  constructor(context: ChatContext, event: Omit<MessageEvent, 'type'> & { unreadable?: boolean }) {
    this.#context = context
    this.gid = event.gid
    this.iss = event.iss
    this.jti = event.jti
    this.body = event.body ?? ''
    this.rid = event.rid
    this.iat = event.iat
    this.seq = event.seq
    this.edited = event.edited
    this.deleted = event.deleted
    this.unreadable = event.unreadable ?? event.cipher !== undefined
    // An unreadable message's sealed files keep no name, type or secret: they download as BAD_ATTACHMENT.
    this.attachments = (event.attachments ?? []).map(
      (attachment) =>
        new ChatAttachment(context, event.gid, { name: '', mime: '', secret: '', ...attachment }),
    )
  }

  /** Replies in the same group, marking this message as the one answered (`rid`). */
  respond(body: string, options: Omit<MessageOptions, 'rid'> = {}): Promise<MessageReceipt> {
    return sendMessage(this.#context, this.gid, body, { ...options, rid: this.jti })
  }

  /** Sends a new message to the same group. */
  message(body: string, options: Omit<MessageOptions, 'rid'> = {}): Promise<MessageReceipt> {
    return sendMessage(this.#context, this.gid, body, options)
  }

  /** Gives this message a new body (only its sender may). */
  edit(body: string): Promise<AckResults['edit']> {
    return editMessage(this.#context, this.gid, this.jti, body)
  }

  /** Deletes this message (only its sender may). */
  delete(): Promise<AckResults['delete']> {
    return this.#context.write('delete', { gid: this.gid, jti: this.jti })
  }

  /** Its reactions as this client has seen them (live, in catch-up and in history pages read), per emoji;
   * none once it is deleted. */
  get reactions(): ReactionSummary[] {
    return this.deleted === undefined ? this.#context.reactions.of(this.gid, this.seq) : []
  }

  /** Adds this identity's `emoji` to this message; again, it changes nothing (`duplicate`). */
  react(emoji: string): Promise<AckResults['react']> {
    return this.#context.react({ gid: this.gid, target: this.seq, emoji })
  }

  /** Takes this identity's `emoji` off this message; when it is not there, nothing changes. */
  unreact(emoji: string): Promise<AckResults['react']> {
    return this.#context.react({ gid: this.gid, target: this.seq, emoji, remove: true })
  }

  /** Marks this message, and everything before it in the group, read. */
  async markRead(): Promise<void> {
    await this.#context.request('receipt', { gid: this.gid, read: this.seq })
  }
}

/** Uploads the files that are not uploaded yet, then sends the message in its turn. */
function sendMessage(
  context: ChatContext,
  gid: string,
  body: string,
  { rid, jti = crypto.randomUUID(), attachments = [] }: MessageOptions,
): Promise<MessageReceipt> {
  const fields = { gid, body, jti, ...(rid !== undefined && { rid }) }
  const files = attachments.filter((item): item is AttachmentFile => 'data' in item)
  const ready =
    files.length === 0
      ? (attachments as Attachment[])
      : uploadFiles(context, gid, files).then((uploaded) =>
          attachments.map((item) => ('data' in item ? (uploaded.shift() as Attachment) : item)),
        )
  if (context.encryption.encrypted(gid)) {
    // The keys may have to change first (a member joined or left): the send waits its turn in the group.
    return context.messages.run(ready, (sent) =>
      context.encryption.send('message', { ...fields, attachments: sent }, (wire) =>
        context.write('message', wire as Requests['message'], { once: true }),
      ),
    )
  }
  return context.messages.run(ready, (sent) =>
    context.write('message', sent.length === 0 ? fields : { ...fields, attachments: sent.map(wireForm) }),
  )
}

/** Sends an edit, encrypted in an end-to-end encrypted group. */
function editMessage(
  context: ChatContext,
  gid: string,
  jti: string,
  body: string,
): Promise<AckResults['edit']> {
  if (!context.encryption.encrypted(gid)) return context.write('edit', { gid, jti, body })
  return context.encryption.send('edit', { gid, jti, body }, (wire) =>
    context.write('edit', wire as Requests['edit'], { once: true }),
  )
}

/** Only the fields the protocol names, whatever object an app passed. */
function wireForm(attachment: Attachment | ChatAttachment): Attachment {
  // A received file sent on again carries its object's size, as the wire does.
  const { key, name, mime, size, digest, secret } =
    attachment instanceof ChatAttachment ? attachment.toJSON() : attachment
  return { key, name, mime, size, digest, secret }
}

/** Every page of a group's positions (those that moved after `since`, when given). */
export async function allReceipts(
  connection: Pick<Connection, 'request'>,
  gid: string,
  since?: number,
): Promise<Receipt[]> {
  const all: Receipt[] = []
  let cursor: string | undefined
  do {
    const page = await connection.request('receipts', {
      gid,
      ...(since !== undefined && { since }),
      ...(cursor !== undefined && { cursor }),
    })
    all.push(...page.receipts.map((position) => ({ gid, ...position })))
    cursor = page.next
  } while (cursor !== undefined)
  return all
}
