/** The wire protocol: what clients send and the server answers, and its limits. Types and a few constants,
 * so the server and the client SDK share them at no cost. */

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'RATE_LIMITED'
  | 'INTERNAL'
  /** `claim` found no key package left for any device of the identity asked for. */
  | 'NO_KEY_PACKAGES'

/** A presigned, short-lived GET of a group's avatar. */
export interface ImageLink {
  url: string
  mime: string
  /** ISO 8601 time after which the URL stops working. */
  expires: string
}

export interface MemberView {
  iss: string
  status: 'invited' | 'joined'
  role: Role
}

export interface GroupView {
  gid: string
  name: string
  /** The first `limits.membersInView` members (not the ones who left); `members` pages through all. */
  members: MemberView[]
  memberCount: number
  image?: ImageLink
  /** Who may invite more members: any joined member, or admins only. */
  invites: InvitePolicy
  /** The seq of the group's latest event (0 before the first). */
  head: number
  /** Set for an end-to-end encrypted group (MLS): messages and edits carry `cipher`, not `body`. */
  encrypted?: true
}

export type Role = 'admin' | 'member'
export type InvitePolicy = 'members' | 'admins'

/** One of the caller's groups, as `groups` lists it. */
export interface GroupListing extends GroupView {
  status: 'invited' | 'joined'
  /** Who invited the caller, while the invite is pending. */
  invitedBy?: string
  /** The caller's read position (a seq), once it has joined. */
  read?: number
  /** Messages from others after the caller's read position, counted up to `limits.unreadCount`. */
  unread: number
}

/** Where a group stands for the caller, as `sync` lists it: enough for a client to know what it missed. */
export interface GroupPosition {
  gid: string
  status: 'invited' | 'joined' | 'left'
  /** The group's latest seq, or the caller's leave once it has left: the last event it may read. */
  head: number
  /** The seq of the caller's join (0 for the group's creator), once it has joined. */
  joinSeq?: number
  encrypted?: true
}

/** A member's delivered and read positions in a group: every event up to that seq. */
export interface ReceiptPosition {
  iss: string
  delivered: number
  read: number
}

/**
 * A file a message carries. The client encrypts it (a fresh key per file), uploads the ciphertext through
 * an `attachment` upload and names it here; the server keeps the object for the group and never reads
 * `secret`, which holds the file's key (and, in an encrypted group, is itself encrypted).
 */
export interface Attachment {
  /** In a `message` request, the upload's key; in events and history, the key the group keeps it under,
   * for `download`. */
  key: string
  /** The file's name and type, as the sender's app gave them, and the size in bytes of its uploaded object
   * (which the server checks). */
  name: string
  mime: string
  size: number
  /** The uploaded object's digest, `sha256:` and its base64: a reader checks the bytes it downloads. */
  digest: string
  /** What decrypts the object, opaque to the server. */
  secret: string
}

/** A file a message of an encrypted group carries: its name, type and secret travel inside the message's
 * `cipher`, so the server sees only the object. */
export type SealedAttachment = Pick<Attachment, 'key' | 'size' | 'digest'>

/**
 * MLS bytes (a commit, a Welcome, a GroupInfo): inline as standard base64 (at most `limits.mlsInlineChars`),
 * or an object. In a request `key` is an `attachment` upload of the caller's; in events and replies it is
 * the object the group keeps, fetched with `download`.
 */
export type MlsBytes = { data: string } | { key: string }

/** One leaf of an encrypted group's keys: the device of an identity that holds it, and the leaf's signature
 * key (base64), which must be that device's key on its owner's device list. */
export interface RosterLeaf {
  leaf: number
  iss: string
  device: string
  key: string
}

/** A device of an identity and its signature key (Ed25519, base64): the key every leaf it holds signs with. */
export interface DeviceKey {
  device: string
  key: string
}

/**
 * One version of an identity's device list, signed by one of its devices: version 1 by its only device,
 * each later one by a device of the version before it, whose digest `prev` names. Members trust a leaf only
 * when its device and key are on its owner's latest list.
 */
export interface DeviceList {
  iss: string
  version: number
  devices: DeviceKey[]
  /** The digest of the version before (absent in version 1). */
  prev?: string
  /** The device that signed, and its Ed25519 signature (base64) over the list's signed bytes. */
  signer: string
  signature: string
}

/** Fields of each client → server request, keyed by action; a frame adds `action` and an optional `id`. */
export interface Requests {
  avatar: { mime: string; size: number }
  /** A presigned upload for one file of a message to group `gid`, of `size` bytes (the encrypted object). */
  attachment: { gid: string; size: number }
  /** A presigned download of a file a message of group `gid` carries (`key` from its attachment). */
  download: { gid: string; key: string }
  /** `encrypted` only when it creates the group: an end-to-end encrypted one. */
  invite: { gid: string; name: string; members: string[]; avatar?: { key: string }; encrypted?: true }
  join: { gid: string }
  leave: { gid: string }
  /** An admin removes member `iss` (invited or joined). */
  remove: { gid: string; iss: string }
  /** An admin renames the group, changes its avatar (an upload's key, checked as at creation) or who may
   * invite; at least one of them. */
  update: { gid: string; name?: string; avatar?: { key: string }; invites?: InvitePolicy }
  /** An admin makes joined member `iss` an admin, or takes that back; a group keeps at least one admin. */
  role: { gid: string; iss: string; role: Role }
  /** An admin bans `iss`: removed when present, it cannot be invited or join until unbanned. */
  ban: { gid: string; iss: string }
  unban: { gid: string; iss: string }
  /** One page of the identities banned from a group, for its admins. */
  bans: { gid: string; cursor?: string }
  /** An admin deletes the group: its members get `chat.deleted`; its log, memberships and avatars go. */
  deleteGroup: { gid: string }
  /** In an encrypted group `body` is "" and `cipher` (an MLS PrivateMessage, base64) carries the content;
   * its attachments are sealed. */
  message: {
    gid: string
    body: string
    jti?: string
    rid?: string
    attachments?: Attachment[] | SealedAttachment[]
    cipher?: string
  }
  edit: { gid: string; jti: string; body: string; cipher?: string }
  delete: { gid: string; jti: string }
  /** Adds the caller's `emoji` to the group's message at seq `target`, or takes it back (`remove`). In an
   * encrypted group neither travels in clear: `cipher` (an MLS PrivateMessage, base64) seals them instead. */
  react: { gid: string; target: number; emoji?: string; remove?: boolean; cipher?: string }
  /** Newest first before `before` (or from the head), or ascending after `after`; at most `limit` events. */
  history: { gid: string; before?: number; after?: number; limit?: number }
  receipt: { gid: string; delivered?: number; read?: number }
  receipts: { gid: string; since?: number; cursor?: string }
  sync: { cursor?: string }
  groups: { cursor?: string }
  members: { gid: string; cursor?: string }
  /** Invites from `iss` stop reaching the caller; messages in groups they share still arrive. */
  block: { iss: string }
  unblock: { iss: string }
  /** One page of the identities the caller blocks. */
  blocks: { cursor?: string }
  /** Publishes key packages (base64 MLS KeyPackage messages) of one of the caller's devices; none just
   * counts what it has left. */
  keys: { device: string; packages: string[] }
  /** One key package of each device of joined member `iss` (but those in `have`), each handed out once. */
  claim: { gid: string; iss: string; have?: string[] }
  /** A change of an encrypted group's keys: one per epoch, in the group's order. */
  commit: { gid: string; commit: MlsBytes; welcome?: MlsBytes; info: MlsBytes }
  /** Who holds an encrypted group's keys, as the server knows it. */
  roster: { gid: string }
  /** An identity's device lists, every version in order (and, for the caller's own, devices awaiting approval). */
  devices: { iss: string }
  /** Publishes the next version of the caller's device list. */
  vouch: { list: DeviceList }
  /** A member that cannot take the group's latest commit (epoch `epoch`) in refuses it: the group goes back
   * to the epoch before. */
  refuse: { gid: string; epoch: number; reason: string }
  /** The caller is typing in group `gid`: its other joined members are told, nothing is stored. */
  typing: { gid: string }
  /** The presence of group `gid`'s joined members: who is online, and when the others were last seen. */
  presence: { gid: string }
  /** Hides the caller's presence from everyone (`hidden: true`), or shows it again. */
  hidePresence: { hidden: boolean }
}

/** Result fields of each action's ack, keyed by action. */
export interface AckResults {
  avatar: { url: string; method: 'PUT'; headers: Record<string, string>; key: string; expires: string }
  attachment: { url: string; method: 'PUT'; headers: Record<string, string>; key: string; expires: string }
  download: { gid: string; key: string; url: string; expires: string }
  invite: { group: GroupView; invited: string[] }
  /** `seq` is the caller's join event (an earlier one when it had joined already). */
  join: { group: GroupView; seq: number }
  leave: { gid: string; seq: number }
  /** `seq` is the removal (`iss`'s leave; an earlier one when it was gone already). */
  remove: { gid: string; iss: string; seq: number }
  /** `seq` is the `chat.update` event; when nothing changed, the group's last one (absent when none). */
  update: { group: GroupView; seq?: number }
  /** `seq` is the `chat.role` that gave `iss` this role (an earlier one when it had it already); absent
   * when it has had it from the start. */
  role: { gid: string; iss: string; role: Role; seq?: number }
  /** `seq` is the `chat.ban` (an earlier one when `iss` was banned already). */
  ban: { gid: string; iss: string; seq: number }
  /** `seq` is the `chat.unban` (an earlier one when `iss` was unbanned already); absent when `iss` was
   * never banned. */
  unban: { gid: string; iss: string; seq?: number }
  /** In identity order; `next` asks for the next page. */
  bans: { gid: string; banned: string[]; next?: string }
  deleteGroup: { gid: string }
  /** `duplicate`: this jti was stored before, at `seq`; nothing new was stored. */
  message: { gid: string; jti: string; iat: string; seq: number; duplicate: boolean }
  /** `duplicate`: the message had this body already; `seq` is the event that gave it. */
  edit: { gid: string; jti: string; seq: number; duplicate: boolean }
  /** `duplicate`: the message was deleted before, by event `seq`. */
  delete: { gid: string; jti: string; seq: number; duplicate: boolean }
  /** `seq` is the `chat.reaction`; absent with `duplicate` (the caller had, or had not, this reaction already:
   * nothing was stored). The server leaves `emoji` and `remove` out in an encrypted group, where they are
   * sealed (the SDK fills them in). */
  react: { gid: string; target: number; emoji?: string; remove?: boolean; seq?: number; duplicate: boolean }
  /** Events in seq order (ascending with `after`, newest first otherwise); `next` asks for the next page. */
  history: { gid: string; head: number; events: GroupEvent[]; next?: number }
  /** The caller's positions after the receipt. */
  receipt: { gid: string; delivered: number; read: number }
  /** Other members' positions (those that moved after `since`); `next` asks for the next page. */
  receipts: { gid: string; receipts: ReceiptPosition[]; next?: string }
  /** `iss` is the caller's identity; `invites` pending invites were re-sent as events; `groups` is one
   * page of the caller's groups. */
  sync: {
    iss: string
    invites: number
    groups: GroupPosition[]
    next?: string
    /** On the first page: the groups the caller was in (joined or invited) that were deleted in the last 30
     * days, as their `chat.deleted`, so that a client away at the time learns of it. */
    deleted?: GroupDeletedEvent[]
  }
  /** One page of the caller's groups; `next` asks for the next page. */
  groups: { groups: GroupListing[]; next?: string }
  /** One page of a group's members (not the ones who left); `next` asks for the next page. */
  members: { gid: string; members: MemberView[]; next?: string }
  block: { iss: string; blocked: true }
  unblock: { iss: string; blocked: false }
  /** In identity order; `next` asks for the next page. */
  blocks: { blocked: string[]; next?: string }
  /** `available`: the key packages the device has now. */
  keys: { device: string; available: number }
  claim: { iss: string; packages: { device: string; package: string }[] }
  /** `seq` is the `chat.commit`; `epoch` the group's new one. */
  commit: { gid: string; seq: number; epoch: number }
  /**
   * `leaves` hold the keys; `stale` are those of identities that departed since they were added (a commit
   * must remove them before anything more is said); `missing` are joined members holding no leaf; `info`
   * is the latest commit's GroupInfo (for a device joining by an external commit).
   */
  roster: {
    gid: string
    epoch: number
    leaves: RosterLeaf[]
    stale: number[]
    missing: string[]
    info?: MlsBytes
  }
  /** `lists`: every version, oldest first (none before the identity's first device); `pending`: for the
   * caller's own identity, devices that published key packages but are on no list yet. */
  devices: { iss: string; lists: DeviceList[]; pending?: DeviceKey[] }
  vouch: { iss: string; version: number }
  /** `seq` is the `chat.revert`; `epoch` the group's epoch after it. */
  refuse: { gid: string; seq: number; epoch: number }
  /** `sent`: the members were told, and their indicator holds `expiresIn` seconds. Not sent when the caller
   * was shared as typing in this group less than the window ago (`retryAfter`: seconds until it may be again;
   * the last one still holds), or when the group has more joined members than typing is shared with (no
   * `retryAfter`: stop sending). */
  typing: { gid: string; sent: boolean; expiresIn: number; retryAfter?: number }
  /** `shared`: false when the group has more joined members than presence is shared in (`members` is then
   * empty). */
  presence: { gid: string; shared: boolean; members: PresenceView[] }
  hidePresence: { hidden: boolean }
}

export type Action = keyof AckResults

export type Ack<A extends Action = Action> = { type: 'ack'; id?: string } & AckResults[A]

export interface ErrorReply {
  type: 'error'
  id?: string
  code: ErrorCode
  message: string
  /** With RATE_LIMITED: seconds until the request may be made again. */
  retryAfter?: number
}

export interface InviteEvent {
  type: 'chat.invite'
  gid: string
  name: string
  /** The inviter. */
  iss: string
  /** The first `limits.membersInView` members; `memberCount` counts them all. */
  members: string[]
  memberCount: number
  /** The admins among `members`. */
  admins: string[]
  /** Who may invite more members. */
  invites: InvitePolicy
  image?: ImageLink
  encrypted?: true
}

/** What every event of a group's log carries: its place in the group's order and when it happened. */
interface LogEntry {
  gid: string
  /** The event's place in its group's order: 1, 2, 3… with no gaps. */
  seq: number
  iat: string
}

export interface JoinEvent extends LogEntry {
  type: 'chat.join'
  iss: string
}

export interface LeaveEvent extends LogEntry {
  type: 'chat.leave'
  iss: string
  /** Set when an admin removed `iss`: that admin. */
  by?: string
}

export interface MessageEvent extends LogEntry {
  type: 'chat.message'
  iss: string
  jti: string
  /** Absent once the message is deleted (history shows a tombstone). */
  body?: string
  rid?: string
  /** The files it carries, each under the key the group keeps it (sealed in an encrypted group). */
  attachments?: Attachment[] | SealedAttachment[]
  /** In an encrypted group, the content as sent (`body` is ""); absent once the message is deleted. */
  cipher?: string
  /** When the body was last edited (history shows the latest body). */
  edited?: string
  /** When the message was deleted. */
  deleted?: string
}

export interface EditEvent extends LogEntry {
  type: 'chat.edit'
  /** The sender, who alone may edit. */
  iss: string
  /** The edited message. */
  jti: string
  /** The new body; in history, the message's current one (absent once it is deleted). */
  body?: string
  /** In an encrypted group, this edit's content as sent (absent in history once the message is deleted). */
  cipher?: string
}

export interface DeleteEvent extends LogEntry {
  type: 'chat.delete'
  iss: string
  /** The deleted message. */
  jti: string
}

/** Member `iss` added `emoji` to message `target` (a seq), or took it back (`remove`). */
export interface ReactionEvent extends LogEntry {
  type: 'chat.reaction'
  iss: string
  target: number
  /** In an encrypted group "" on the wire, where `cipher` seals it and `remove` (the SDK hands it over opened). */
  emoji: string
  remove?: true
  /** In an encrypted group, the reaction as sent. */
  cipher?: string
}

/** An admin (`iss`) changed the group: what changed is given, the rest stays. */
export interface UpdateEvent extends LogEntry {
  type: 'chat.update'
  iss: string
  name?: string
  /** The new avatar: a fresh link each time the event is posted or read. */
  image?: ImageLink
  invites?: InvitePolicy
}

/** Member `iss` became an admin or a member again: by admin `by`, or, without `by`, because the last
 * admin left and `iss` had been joined the longest. */
export interface RoleEvent extends LogEntry {
  type: 'chat.role'
  iss: string
  role: Role
  by?: string
}

/** Admin `by` banned `iss`. When `iss` was a member this is its departure: the last event it receives. */
export interface BanEvent extends LogEntry {
  type: 'chat.ban'
  iss: string
  by: string
}

export interface UnbanEvent extends LogEntry {
  type: 'chat.unban'
  iss: string
  by: string
}

/** Member `iss` changed an encrypted group's keys to `epoch`: added and removed leaves as the server placed
 * them. */
export interface CommitEvent extends LogEntry {
  type: 'chat.commit'
  iss: string
  epoch: number
  commit: MlsBytes
  /** For the devices it adds. */
  welcome?: MlsBytes
  /** The new epoch's GroupInfo. */
  info: MlsBytes
  added: RosterLeaf[]
  removed: RosterLeaf[]
  /** The digest of the whole roster at the new epoch (`rosterDigest`): every member's tree must match it. */
  tree: string
}

/** Member `by` could not take in commit `epoch` of `iss`, so the group's keys went back to the epoch before:
 * devices that took it in return to the state they held before it, and `iss` is named to the admins. */
export interface RevertEvent extends LogEntry {
  type: 'chat.revert'
  /** The committer of the refused commit. */
  iss: string
  by: string
  /** The refused epoch; the group is at `epoch - 1` again. */
  epoch: number
  reason: string
}

/** Events of a group's log: each has a seq, and history and catch-up return them. */
export type GroupEvent =
  | MessageEvent
  | JoinEvent
  | LeaveEvent
  | EditEvent
  | DeleteEvent
  | ReactionEvent
  | UpdateEvent
  | RoleEvent
  | BanEvent
  | UnbanEvent
  | CommitEvent
  | RevertEvent

/** Admin `iss` deleted the group: posted to its members (and pending invitees), not kept, since the log
 * goes with the group. */
export interface GroupDeletedEvent {
  type: 'chat.deleted'
  gid: string
  iss: string
  iat: string
}

/** A member's new positions, posted to the senders of the messages they cover. Positions, not log events. */
export interface ReceiptEvent extends ReceiptPosition {
  type: 'chat.receipt'
  gid: string
}

/** The devices of `iss` changed (a new list `version`) or a device asks to be approved (`pending`): posted
 * to the identity's own connections. */
export interface DevicesEvent {
  type: 'chat.devices'
  iss: string
  version?: number
  pending?: DeviceKey
}

/** Member `iss` is typing in `gid`: ephemeral (no seq, never stored), shown for `expiresIn` seconds unless
 * another comes or a message from `iss` arrives. */
export interface TypingEvent {
  type: 'chat.typing'
  gid: string
  iss: string
  expiresIn: number
}

/** One identity's presence as others see it: online now (`online: true`, also for a grace period after its
 * last connection closes), or offline and last seen at `lastSeen`; neither field when it hides its presence. */
export interface PresenceView {
  iss: string
  online?: boolean
  lastSeen?: string
}

/** Identity `iss` came online, went offline, or hid or showed its presence: posted to the joined members of
 * the groups it has joined that are small enough to share presence in, never stored. `at`: when it changed. */
export interface PresenceEvent extends PresenceView {
  type: 'chat.presence'
  at: string
}

export type ChatEvent =
  | InviteEvent
  | GroupEvent
  | ReceiptEvent
  | GroupDeletedEvent
  | DevicesEvent
  | TypingEvent
  | PresenceEvent

export type ServerFrame = Ack | ErrorReply | ChatEvent

/** Identities and gids: 1–128 chars of [A-Za-z0-9_.:@-], not `.` or `..` (a gid is a segment of object keys). */
export const identityPattern = /^(?!\.\.?$)[A-Za-z0-9_.:@-]{1,128}$/

/** Avatar images the server accepts for upload. */
export const imageMimeTypes = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const

/**
 * Limits of the contract, and of pages. API Gateway's "32 KB" frame and "128 KB" message are read the
 * stricter way, as 32,000 and 128,000 bytes, so what passes here passes there.
 */
export const limits = {
  /** One client frame (API Gateway closes the connection with 1009 above it; browsers never split one). */
  frameBytes: 32_000,
  /** Data posted to a connection, replies included. */
  postBytes: 128_000,
  /** A message's body in UTF-8, leaving room in its frame for the JSON around it. */
  bodyBytes: 30_000,
  avatarBytes: 5 * 1024 * 1024,
  /** Presigned avatar uploads one identity may ask for in an hour. */
  avatarUploadsPerHour: 20,
  /** Presigned attachment uploads one identity may ask for in an hour. */
  attachmentUploadsPerHour: 200,
  membersPerInvite: 50,
  idleSeconds: 10 * 60,
  lifetimeSeconds: 2 * 60 * 60,
  /** Events per history page (the default page is half of it). */
  historyPage: 100,
  /** Groups per sync page, positions per receipts page, members per members page. */
  listPage: 100,
  /** Members a group view or an invite carries; `members` pages through the rest. */
  membersInView: 50,
  /** Groups per `groups` page (each with up to `membersInView` members: the page fits a post). */
  groupsPage: 10,
  /** `unread` counts no further than this. */
  unreadCount: 1000,
  /** Base64 characters of a `cipher`, or of one inline MLS part of a commit (larger ones are uploaded). */
  mlsInlineChars: 24_000,
  /** Key packages one `keys` request publishes, and one device may have. */
  keyPackagesPerRequest: 20,
  keyPackagesPerDevice: 100,
  /** `keys` and `claim` requests one identity may make in an hour. */
  keyPublishesPerHour: 60,
  claimsPerHour: 600,
  /** The longest a key package may be valid (notAfter − notBefore); the directory keeps it no longer. */
  keyPackageLifetimeSeconds: 2_628_000,
  /** Devices on one identity's list. */
  devicesPerIdentity: 20,
  /** `refuse` requests one identity may make in an hour. */
  refusalsPerHour: 20,
  /** A reaction's emoji in UTF-8 (a flag or a family of several code points fits). */
  emojiBytes: 32,
  /** Different emoji on one message, and reactions on it in all (one per member and emoji). */
  emojiPerMessage: 20,
  reactionsPerMessage: 1000,
  /** Base64 characters of a reaction's `cipher` (a sealed emoji takes under 1,000). */
  reactionCipherChars: 2048,
} as const
