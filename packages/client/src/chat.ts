import { type Avatar, uploadAvatar } from './avatar.js'
import { CatchUp } from './catch-up.js'
import type { Connection } from './connection.js'
import { type CursorStore, memoryCursorStore } from './cursors.js'
import { DeliveredReceipts } from './delivered.js'
import type { VerifiedDevices } from './device-trust.js'
import { GroupDirectory, type StateChange } from './directory.js'
import { type EncryptionOptions, GroupEncryption, type SecurityNotice } from './encryption.js'
import { type AdminWrite, type ChatContext, ChatGroup, ChatMessage, type Receipt } from './group.js'
import { flatten } from './group-info.js'
import { Listeners } from './listeners.js'
import { CallOrder } from './order.js'
import { OwnWrites } from './own-writes.js'
import { type Presence, PresenceBook } from './presence.js'
import type {
  AckResults,
  BanEvent,
  DeleteEvent,
  DeviceKey,
  EditEvent,
  GroupDeletedEvent,
  GroupEvent,
  InviteEvent,
  JoinEvent,
  LeaveEvent,
  ReactionEvent,
  Requests,
  RoleEvent,
  TypingEvent,
  UnbanEvent,
  UpdateEvent,
} from './protocol.js'
import { ReactionSender } from './reaction-sender.js'
import { ReactionBook, type ReactionSummary } from './reactions.js'
import { Timeline } from './timeline.js'
import { TypingIndicators, type TypingOptions } from './typing.js'

/** An admin's change to a group, as onChange hands it over: a rename, new avatar or policy, a role, a ban. */
export type GroupChange = UpdateEvent | RoleEvent | BanEvent | UnbanEvent

/** What the chat API of a connection is configured with; ChatClient.connect takes these with its own. */
export interface ChatOptions {
  /** Receives errors thrown by your event callbacks. Default console.error. */
  onError?: (error: unknown) => void
  /** Where the last seq handed to the app per group is kept (default: memory), so a restart catches up. */
  cursors?: CursorStore
  /**
   * End-to-end encrypted groups: where this device keeps its keys, and the MLS engine. Without it the client
   * still works in plain groups; in encrypted ones it cannot read or send.
   */
  encryption?: EncryptionOptions
  /** Delivered receipts, sent per group at most every `delayMs` (default 2000) while messages arrive; false:
   * none. */
  deliveredReceipts?: false | { delayMs?: number }
  /** How long a hole in a group's order may wait for a late event before the log is read (default 250). */
  gapGraceMs?: number
  /** Typing indicators: how often `group.typing()` sends, and how long others' indicators hold. */
  typing?: TypingOptions
}

const deliveredDelayMs = 2000
const gapGraceMs = 250

/**
 * The chat API of one connection (a ChatClient, or any Connection), shaped like the Self SDK's ChatService.
 * Each group's events reach the callbacks exactly once and in the group's order, across reconnects: the
 * client remembers the last seq it handed over per group, catches up after every reconnect, and reads the
 * log when a seq shows a hole.
 */
export class ChatService {
  readonly #connection: Connection
  readonly #timeline: Timeline
  readonly #context: ChatContext
  readonly #invites: Listeners<[ChatGroup]>
  readonly #joins: Listeners<[string, string, JoinEvent]>
  readonly #leaves: Listeners<[string, string, LeaveEvent]>
  readonly #messages: Listeners<[ChatMessage]>
  readonly #edits: Listeners<[EditEvent]>
  readonly #reactions: Listeners<[ReactionEvent, ReactionSummary[]]>
  /** Every reaction seen, folded onto its message. */
  readonly #reactionBook = new ReactionBook()
  readonly #deletes: Listeners<[DeleteEvent]>
  readonly #receipts: Listeners<[Receipt]>
  readonly #changes: Listeners<[GroupChange, ChatGroup | undefined]>
  readonly #groupDeletes: Listeners<[GroupDeletedEvent, ChatGroup | undefined]>
  readonly #security: Listeners<[SecurityNotice]>
  readonly #devices: Listeners<[VerifiedDevices]>
  readonly #typing: TypingIndicators
  readonly #presence: PresenceBook
  /** The one object per group this client hands out, kept current as the group's events arrive. */
  readonly #directory: GroupDirectory<ChatGroup>
  readonly #encryption: GroupEncryption
  /** Groups whose pending invite the app has been handed, so a re-sent one is not handed again. */
  readonly #announced = new Set<string>()
  /**
   * This client's writes, in flight or acknowledged within `echoMs`, with when they stop counting: their
   * events are not handed back to it. One may arrive before the ack (after a reconnect), or after it: the
   * first attempt of a write sent again on a new connection can fan out to that connection after the retry
   * was answered, for as long as that attempt's function may run.
   */
  readonly #ownWrites = new OwnWrites()
  readonly #delivered: DeliveredReceipts | undefined
  readonly #catchUp: CatchUp
  readonly #reactionSender: ReactionSender

  constructor(
    connection: Connection,
    options: ChatOptions = {},
    report: (error: unknown) => void = options.onError ?? console.error,
  ) {
    this.#connection = connection
    this.#invites = new Listeners(report)
    this.#joins = new Listeners(report)
    this.#leaves = new Listeners(report)
    this.#messages = new Listeners(report)
    this.#edits = new Listeners(report)
    this.#reactions = new Listeners(report)
    this.#deletes = new Listeners(report)
    this.#receipts = new Listeners(report)
    this.#changes = new Listeners(report)
    this.#groupDeletes = new Listeners(report)
    this.#security = new Listeners(report)
    this.#devices = new Listeners(report)
    this.#typing = new TypingIndicators(
      (action, fields, options) => connection.request(action, fields, options),
      options.typing ?? {},
      report,
    )
    this.#presence = new PresenceBook((action, fields) => connection.request(action, fields), report)
    this.#directory = new GroupDirectory((info, status) => new ChatGroup(this.#context, info, status))
    const delivered = options.deliveredReceipts
    this.#delivered =
      delivered === false
        ? undefined
        : new DeliveredReceipts(connection, delivered?.delayMs ?? deliveredDelayMs)
    this.#encryption = new GroupEncryption(
      {
        request: (action, fields, options) => connection.request(action, fields, options),
        catchUp: () => this.catchUp(),
        wrote: (gid, seq) => this.#timeline.wrote(gid, seq),
        report,
        security: (notice) => this.#security.emit(notice),
        devicesChanged: (devices) => this.#devices.emit(devices),
      },
      options.encryption,
    )
    this.#timeline = new Timeline({
      store: options.cursors ?? memoryCursorStore(),
      readAfter: (gid, after) => connection.request('history', { gid, after, limit: 100 }),
      resync: () => this.#catchUp.quietly(report),
      deliver: (event) => this.#encryption.inOrder(event, (ready) => this.#dispatch(ready)),
      gapGraceMs: options.gapGraceMs ?? gapGraceMs,
      report,
    })
    this.#catchUp = new CatchUp({
      connection,
      timeline: this.#timeline,
      knows: (gid) => this.#directory.get(gid) !== undefined,
      encryption: this.#encryption,
      receipts: this.#receipts,
      // The app asked for end-to-end encryption: this device publishes key packages so members can add it.
      publishesKeys: options.encryption !== undefined,
      deleted: (event) => this.#deleted(event),
    })
    this.#reactionSender = new ReactionSender({
      connection,
      encryption: this.#encryption,
      timeline: this.#timeline,
      book: this.#reactionBook,
      ownWrites: this.#ownWrites,
    })
    this.#context = {
      request: (action, fields) => connection.request(action, fields),
      write: (action, fields, options) =>
        this.#ownWrites.track({ type: `chat.${action}`, ...fields }, async () => {
          const ack = await connection.request(action, fields, options)
          this.#timeline.wrote(fields.gid, ack.seq)
          return ack
        }),
      messages: new CallOrder(),
      encryption: this.#encryption,
      join: (gid) =>
        this.#starting(gid, async () => {
          // Members add this device as soon as they see the join: its key packages must be there by then.
          if (this.#encryption.encrypted(gid)) await this.#encryption.published()
          const { group, seq } = await this.#ownWrites.track({ type: 'chat.join', gid }, () =>
            connection.request('join', { gid }),
          )
          this.#timeline.joined(gid, seq)
          this.#announced.delete(gid)
          this.#encryption.mark(gid, group.encrypted)
          this.#encryption.joined(gid)
          return group
        }),
      cursor: (gid) => this.#timeline.cursor(gid),
      seen: (group, view, status) => {
        this.#directory.show(flatten(view), status, view.head, group)
      },
      change: (group, action, fields) => this.#change(group, action, fields),
      deleteGroup: async (gid) => {
        await this.#ownWrites.track({ type: 'chat.deleted', gid }, () =>
          connection.request('deleteGroup', { gid }),
        )
        this.#end(gid)
      },
      typing: this.#typing,
      presence: this.#presence,
      react: (fields) => this.#reactionSender.send(fields),
      reactions: {
        apply: (event) => this.#reactionBook.apply(event),
        of: (gid, target) => this.#reactionBook.of(gid, target, this.#timeline.me),
      },
    }
    connection.onEvent((event) => {
      if (event.type === 'chat.invite') this.#invited(event)
      else if (event.type === 'chat.receipt') this.#receipts.emit(receiptOf(event))
      else if (event.type === 'chat.deleted') this.#deleted(event)
      else if (event.type === 'chat.typing') this.#typing.received(event)
      else if (event.type === 'chat.presence') this.#presence.received(event)
      else if (event.type === 'chat.devices') {
        this.#encryption.devicesEvent(event.iss, event.pending).catch(report)
      } else this.#timeline.receive(event)
    })
    connection.onStatus((status) => {
      if (status === 'open') this.#catchUp.quietly(report)
      if (status === 'closed') this.#stop()
    })
    if (connection.status === 'open') this.#catchUp.quietly(report)
  }

  /** Called with each group this identity is invited to, including invites that waited while it was offline. */
  onInvite(callback: (group: ChatGroup) => unknown): () => void {
    const first = this.#invites.size === 0
    const unsubscribe = this.#invites.add(callback)
    // Pending invites are re-sent on request: the first listener asks for the ones it has missed.
    if (first && this.#connection.status === 'open') this.#catchUp.quietly(() => {})
    return unsubscribe
  }

  /** Called when `iss` joins group `gid` (for groups this identity has joined); `event` has its seq and time. */
  onJoin(callback: (iss: string, gid: string, event: JoinEvent) => unknown): () => void {
    return this.#joins.add(callback)
  }

  /** Called when `iss` leaves group `gid`; `event` has its seq and time. */
  onLeave(callback: (iss: string, gid: string, event: LeaveEvent) => unknown): () => void {
    return this.#leaves.add(callback)
  }

  /** Called with each message sent to a group this identity has joined. */
  onMessage(callback: (message: ChatMessage) => unknown): () => void {
    return this.#messages.add(callback)
  }

  /** Called when a sender edits a message: `jti` names it, `body` is its new body. */
  onEdit(callback: (edit: EditEvent) => unknown): () => void {
    return this.#edits.add(callback)
  }

  /** Called each time a member of a joined group says it is typing (at most once a few seconds per member);
   * `event.expiresIn` is how long it holds. */
  onTyping(callback: (iss: string, gid: string, event: TypingEvent) => unknown): () => void {
    return this.#typing.events.add(callback)
  }

  /** Called when the members typing in `gid` change: one starts, one's indicator expires, or its message
   * arrives; `typing` is who types now (as `group.typingNow()` gives it). */
  onTypingChange(callback: (gid: string, typing: string[]) => unknown): () => void {
    return this.#typing.changes.add(callback)
  }

  /** Called when a member of a group this identity has joined (one small enough to share presence in) comes
   * online, goes offline (after a grace period: a reconnect is no departure), or hides its presence; also
   * when `group.presence()` finds one changed. */
  onPresence(callback: (presence: Presence) => unknown): () => void {
    return this.#presence.changes.add(callback)
  }

  /** The last presence known of `iss` (from `onPresence`'s events and `group.presence()`), or undefined. */
  presenceOf(iss: string): Presence | undefined {
    return this.#presence.of(iss)
  }

  /** Hides this identity's presence from every group (members see neither online nor last seen), or shows
   * it again. */
  async hidePresence(hidden: boolean): Promise<void> {
    await this.#presence.hide(hidden)
  }

  /**
   * Called when a member adds an emoji reaction to a message (`event.target`, its seq) or takes one back
   * (`event.remove`), with the message's reactions after it (as `message.reactions` gives them). This
   * client's own reactions are not handed back; those this identity makes on its other devices are. In an
   * encrypted group the event is handed over opened, and one that does not open here is dropped.
   */
  onReaction(callback: (event: ReactionEvent, reactions: ReactionSummary[]) => unknown): () => void {
    return this.#reactions.add(callback)
  }

  /** Called when a sender deletes a message (`jti`). */
  onDelete(callback: (deleted: DeleteEvent) => unknown): () => void {
    return this.#deletes.add(callback)
  }

  /**
   * Called when an admin changes a group this identity has joined: renames it, changes its avatar or who may
   * invite (`chat.update`), makes a member an admin or not (`chat.role`), bans or unbans an identity
   * (`chat.ban`, `chat.unban`). `group` is this client's object for it (when it has handed one out), already
   * changed; a ban of this identity is its last event of the group, whose `status` is then `left`.
   */
  onChange(callback: (change: GroupChange, group: ChatGroup | undefined) => unknown): () => void {
    return this.#changes.add(callback)
  }

  /**
   * Called when an admin deletes a group this identity belongs to or is invited to; `group` is this client's
   * object for it (when it has handed one out), now `left`. Nothing of the group arrives after it.
   */
  onGroupDelete(callback: (deleted: GroupDeletedEvent, group: ChatGroup | undefined) => unknown): () => void {
    return this.#groupDeletes.add(callback)
  }

  /**
   * Called with what an app should show about encrypted groups' keys: a key change this device refused (it
   * then sends nothing to that group until the change is undone), a change a member refused that was undone,
   * this device waiting for approval on another device of its identity, or another device asking for it.
   */
  onSecurity(callback: (notice: SecurityNotice) => unknown): () => void {
    return this.#security.add(callback)
  }

  /** Called when the devices of an identity change (its list, as this device verified it, and fingerprint). */
  onDevicesChange(callback: (devices: VerifiedDevices) => unknown): () => void {
    return this.#devices.add(callback)
  }

  /** The devices `iss` vouches for, verified on this device, and the fingerprint two people compare. */
  devices(iss: string): Promise<VerifiedDevices | undefined> {
    return this.#encryption.devices(iss)
  }

  /** Devices of this identity that ask to be approved. */
  pendingDevices(): Promise<DeviceKey[]> {
    return this.#encryption.pendingDevices()
  }

  /** Approves another device of this identity, which then reads encrypted groups from now on. */
  approveDevice(device: string): Promise<VerifiedDevices> {
    return this.#encryption.approveDevice(device)
  }

  /**
   * Called when a member's delivered or read position moves past messages of this identity (and for its
   * own other devices' receipts); after a reconnect, with the positions that moved meanwhile.
   */
  onReceipt(callback: (receipt: Receipt) => unknown): () => void {
    return this.#receipts.add(callback)
  }

  /**
   * Creates group `gid` (or adds members to it), uploading the avatar first when one is given. A group
   * created with `encrypted` is end-to-end encrypted: this device starts its keys before this resolves.
   */
  async invite(
    gid: string,
    name: string,
    members: string[],
    avatar?: Avatar,
    options: { encrypted?: boolean } = {},
  ): Promise<ChatGroup> {
    const key = avatar ? await uploadAvatar(this.#connection, avatar) : undefined
    const view = await this.#starting(gid, async () => {
      const { group } = await this.#connection.request('invite', {
        gid,
        name,
        members,
        ...(key !== undefined && { avatar: { key } }),
        ...(options.encrypted && { encrypted: true }),
      })
      this.#timeline.follow(gid, group.head)
      return group
    })
    this.#encryption.mark(gid, view.encrypted)
    if (view.encrypted) await this.#encryption.ensure(gid)
    return this.#directory.show(flatten(view), 'joined', view.head)
  }

  /** Joins group `gid` by id alone, for an invite seen elsewhere (another device, an earlier session). */
  async join(gid: string): Promise<ChatGroup> {
    const view = await this.#context.join(gid)
    return this.#directory.show(flatten(view), 'joined', view.head)
  }

  /** Leaves group `gid`, or declines its invite. */
  async leave(gid: string): Promise<void> {
    await this.#context.write('leave', { gid })
    const group = this.#directory.get(gid)
    if (group) group.status = 'left'
  }

  /** Stops invites from `iss` reaching this identity; messages in groups both belong to still arrive. */
  async block(iss: string): Promise<void> {
    await this.#connection.request('block', { iss })
  }

  async unblock(iss: string): Promise<void> {
    await this.#connection.request('unblock', { iss })
  }

  /** Every identity this identity blocks, so an app can hide their messages too. */
  async blocked(): Promise<string[]> {
    const all: string[] = []
    let cursor: string | undefined
    do {
      const page = await this.#connection.request('blocks', cursor === undefined ? {} : { cursor })
      all.push(...page.blocked)
      cursor = page.next
    } while (cursor !== undefined)
    return all
  }

  /** Every group this identity is invited to or has joined, with its unread count. */
  async groups(): Promise<ChatGroup[]> {
    const all: ChatGroup[] = []
    let cursor: string | undefined
    do {
      const page = await this.#connection.request('groups', cursor === undefined ? {} : { cursor })
      for (const listing of page.groups) {
        const { invitedBy, status, head } = listing
        this.#encryption.mark(listing.gid, listing.encrypted)
        const group = this.#directory.show(
          { ...flatten(listing), ...(invitedBy && { invitedBy }) },
          status,
          head,
        )
        group.unread = listing.unread
        group.read = listing.read
        all.push(group)
      }
      cursor = page.next
    } while (cursor !== undefined)
    return all
  }

  /**
   * Reads whatever happened while this client was away and resolves once every group is in order. It
   * runs by itself after every (re)connect; apps may call it too (say, when they come to the foreground).
   */
  catchUp(): Promise<void> {
    return this.#catchUp.run()
  }

  #invited(event: InviteEvent): void {
    if (this.#announced.has(event.gid) || this.#invites.size === 0) return
    this.#announced.add(event.gid)
    const { gid, name, members, memberCount, image, iss, admins, invites, encrypted } = event
    this.#encryption.mark(gid, encrypted)
    const info = {
      gid,
      name,
      members,
      memberCount,
      ...(image && { image }),
      invitedBy: iss,
      admins,
      invites,
      ...(encrypted && { encrypted }),
    }
    this.#invites.emit(this.#directory.show(info, 'invited'))
  }

  /**
   * Sends an admin write. A view in its ack (an update) is taken at once; a role or a ban changes the group's
   * object when the group's order reaches its seq, so a change from another admin that comes late is not
   * applied over it. A removal's event is the member's leave, by this identity.
   */
  async #change<A extends AdminWrite>(
    group: ChatGroup,
    action: A,
    fields: Requests[A],
  ): Promise<AckResults[A]> {
    const type = action === 'remove' ? 'chat.leave' : `chat.${action}`
    const by = action === 'remove' ? { by: this.#timeline.me } : {}
    const ack = await this.#ownWrites.track({ type, ...fields, ...by }, () =>
      this.#connection.request(action, fields),
    )
    const { gid } = fields
    const { seq } = ack
    if (seq === undefined) return ack
    if ('group' in ack) {
      this.#directory.show(flatten(ack.group), group.status, ack.group.head, group)
      this.#timeline.wrote(gid, seq)
    } else {
      const change = { ...fields, type, seq } as StateChange
      this.#timeline.wrote(gid, seq, () => this.#directory.apply(change, this.#timeline.me))
    }
    return ack
  }

  /** A group deleted by an admin of another connection; this client's own deletion is not handed back. */
  #deleted(event: GroupDeletedEvent): void {
    const mine = event.iss === this.#timeline.me && this.#ownWrites.has(event)
    const group = this.#end(event.gid)
    if (!mine) this.#groupDeletes.emit(event, group)
  }

  /** Drops all this client keeps of a deleted group: its position, its object, its pending receipt. */
  #end(gid: string): ChatGroup | undefined {
    this.#timeline.forget(gid)
    this.#announced.delete(gid)
    this.#delivered?.forget(gid)
    this.#typing.forget(gid)
    this.#reactionBook.forget(gid)
    return this.#directory.forget(gid)
  }

  /** A join or a creation: the group's events that come before its ack wait for it. */
  async #starting<T>(gid: string, request: () => Promise<T>): Promise<T> {
    this.#timeline.expect(gid)
    try {
      return await request()
    } catch (error) {
      this.#timeline.release(gid)
      throw error
    }
  }

  /** Takes one event into its group's object and hands it to the app, in its group's order. */
  #dispatch(event: GroupEvent): void {
    const me = this.#timeline.me
    const group = this.#directory.apply(event, me)
    // This identity joined, left or was removed (a ban too): a later invite is news again.
    const membership = event.type === 'chat.join' || event.type === 'chat.leave' || event.type === 'chat.ban'
    if (membership && event.iss === me) this.#announced.delete(event.gid)
    const changed = event.type === 'chat.reaction' && this.#reactionBook.apply(event)
    const mine = actorOf(event) === me
    if (mine && this.#ownWrites.has(event)) return
    switch (event.type) {
      case 'chat.message':
        if (!mine) this.#delivered?.soon(event.gid, event.seq)
        // Its message ends its sender's typing.
        this.#typing.stopped(event.gid, event.iss)
        this.#messages.emit(new ChatMessage(this.#context, event))
        return
      case 'chat.join':
        this.#joins.emit(event.iss, event.gid, event)
        return
      case 'chat.leave':
        this.#leaves.emit(event.iss, event.gid, event)
        return
      case 'chat.edit':
        this.#edits.emit(event)
        return
      case 'chat.delete':
        this.#deletes.emit(event)
        return
      case 'chat.reaction':
        if (changed) this.#reactions.emit(event, this.#reactionBook.of(event.gid, event.target, me))
        return
      case 'chat.update':
      case 'chat.role':
      case 'chat.ban':
      case 'chat.unban':
        this.#changes.emit(event, group)
    }
  }

  #stop(): void {
    this.#delivered?.stop()
    this.#typing.clear()
    this.#presence.clear()
    this.#timeline.close()
  }
}

/** Who made the event: the admin for a role, ban, unban or removal (whose `iss` names the one it is about). */
function actorOf(event: GroupEvent): string | undefined {
  if (event.type === 'chat.leave') return event.by ?? event.iss
  return event.type === 'chat.role' || event.type === 'chat.ban' || event.type === 'chat.unban'
    ? event.by
    : event.iss
}

function receiptOf({ gid, iss, delivered, read }: Receipt): Receipt {
  return { gid, iss, delivered, read }
}
