/** The ports the chat core depends on, one per capability; adapters implement them over DynamoDB, S3 and the
 * management API. */

import type {
  BanEvent,
  CommitEvent,
  DeleteEvent,
  DeviceList,
  EditEvent,
  GroupDeletedEvent,
  JoinEvent,
  LeaveEvent,
  MessageEvent,
  ReactionEvent,
  RevertEvent,
} from '@huddle/client/protocol'
import type {
  AdminEvent,
  Appended,
  Block,
  Connection,
  Group,
  GroupChange,
  GroupState,
  KeyPackageRef,
  Member,
  MemberStatus,
  MessageRef,
  ReactedMessage,
  Recipients,
  Roster,
  StoredEvent,
} from './model.js'

/** A group aggregate: the group item, its memberships, its event log, its roster and the key packages claimed
 * for it, each change appended to the log in one transaction with what it changes. */
export interface GroupStore {
  /** The group and all its memberships in one consistent read; undefined when there is no such group. */
  readGroup(gid: string): Promise<GroupState | undefined>
  /** The group and its joined members' open connections as of its head, read compactly (a message's read at any
   * size); undefined when there is no such group. */
  readRecipients(gid: string): Promise<Recipients | undefined>
  getGroups(gids: string[]): Promise<Group[]>
  /** The group and some identities' memberships (those that have one), read consistently in one batch;
   * undefined when there is no such group. */
  readMembers(gid: string, isses: string[]): Promise<GroupState | undefined>
  /** Creates the group and its first members atomically; false when the gid is taken. */
  createGroup(group: Group, members: Member[]): Promise<boolean>
  /** Adds (or, after a leave, re-adds) members while the head is still `head`, as one append without an
   * event; rejected when one of them became a member meanwhile. */
  addMembers(gid: string, head: number, members: Member[]): Promise<Appended<never>>
  /** Appends a message with its id marker; rejected (with the marker) when its jti is taken. */
  appendMessage(message: MessageEvent, expiresAt: number): Promise<Appended<MessageRef>>
  /** Appends a join, a leave or a member's ban and applies it to the membership, while its status is one
   * of `from`; a leave or ban also becomes the group's `departedSeq`, and makes `stale` the leaves of an
   * encrypted group's keys the departing identity holds. */
  appendMembership(
    event: JoinEvent | LeaveEvent | BanEvent,
    change: Partial<Member>,
    from: MemberStatus[],
    expiresAt: number,
    stale?: number[],
  ): Promise<Appended<never>>
  /** An encrypted group's roster (undefined before its first commit), read consistently. */
  readRoster(gid: string): Promise<Roster | undefined>
  /** Appends a commit: the group moves to `roster.epoch` with that roster, and `cleared` leave its stale
   * leaves. */
  appendCommit(
    event: CommitEvent,
    roster: Roster,
    cleared: number[],
    expiresAt: number,
    claims: string[],
  ): Promise<Appended<never>>
  /** Appends a revert: the group goes back to `roster` (its epoch) with exactly `stale` as its stale
   * leaves (`was` are the stale leaves it had). */
  appendRevert(
    event: RevertEvent,
    roster: Roster,
    stale: number[],
    was: number[],
    expiresAt: number,
  ): Promise<Appended<never>>
  /** Records that `claimant` was handed key packages `refs` for group `gid`, until `expiresAt`. */
  recordClaims(gid: string, claimant: string, refs: string[], expiresAt: number): Promise<void>
  /** Appends an edit or delete and applies it to message `target`, while the message is live and has
   * another body; rejected with the message as it stands. */
  appendRevision(
    event: EditEvent | DeleteEvent,
    target: number,
    expiresAt: number,
  ): Promise<Appended<StoredEvent>>
  /** Message `target` of the group (unexpired; deleted or not) and its reactions; undefined when that seq is
   * no message. */
  readReactions(gid: string, target: number): Promise<ReactedMessage | undefined>
  /** Appends a reaction and applies it to message `target`, while the message is live and has (to add) or
   * lacks (to remove) it; a sealed one (`cipher`) changes nothing on the message, which must be live. Rejected
   * when it is not so. */
  appendReaction(event: ReactionEvent, expiresAt: number): Promise<Appended<never>>
  /** Appends an admin's event and applies `change` (see GroupChange); rejected when the member it changes
   * is not as it was read. */
  appendChange(event: AdminEvent, change: GroupChange, expiresAt: number): Promise<Appended<never>>
  /** Marks the group deleted while its head is still `head`: from then on it reads as absent, and every
   * write on it fails; false when the head moved. A purge (GroupPurges) then removes it. */
  markDeleted(gid: string, head: number, deleted: { by: string; at: string }): Promise<boolean>
  findMessage(gid: string, jti: string): Promise<MessageRef | undefined>
  /** Events after seq `after` up to `through`, at most `limit`, ascending or newest first. */
  readEvents(
    gid: string,
    range: { after: number; through: number; limit: number; newestFirst: boolean },
  ): Promise<StoredEvent[]>
  getEvents(gid: string, seqs: number[]): Promise<StoredEvent[]>
  /** The senders of the live messages after `after` up to `through` that `except` did not send, newest
   * first, at most `limit`. */
  messageSenders(
    gid: string,
    range: { after: number; through: number },
    except: string,
    limit: number,
  ): Promise<string[]>
  /** Moves a joined member's receipt positions; false when they moved meanwhile or it is no longer joined. */
  saveReceipt(previous: Member, next: Pick<Member, 'delivered' | 'read' | 'movedAt'>): Promise<boolean>
}

/** A group marked deleted: who deleted it and when, the objects its mark names (its avatar), and whether its
 * purge has ended. */
export interface DeletionMark {
  gid: string
  by: string
  at: string
  objects: string[]
  purged: boolean
}

/** One page of a deleted group's items (its mark aside), in key order, as a purge reads it. */
export interface PurgePage {
  gid: string
  /** The items, by sort key. */
  items: string[]
  /** The keys of the objects they name: avatars, files, commit parts. */
  objects: string[]
  /** The identities of its joined memberships, and of its joined or invited ones (who get a notice). */
  joined: string[]
  present: string[]
  /** Where the next page starts; undefined on the partition's last page. */
  next?: string
}

/**
 * A deleted group's removal, a page at a time, so that no call outlives a Lambda's time whatever the group's
 * size. Each page's objects are deleted before the page's items, so an object never outlives the item that
 * names it, and a purge cut anywhere is finished by running it again from the start.
 */
export interface GroupPurges {
  /** The group's deletion mark, read consistently; undefined when no group `gid` is marked deleted. */
  deletionMark(gid: string): Promise<DeletionMark | undefined>
  /** Leaves each of `isses` a notice of the deletion for 30 days (`deletedGroupsOf`). */
  leaveNotices(mark: Pick<DeletionMark, 'gid' | 'by' | 'at'>, isses: string[]): Promise<void>
  /** Takes the purge of `gid` for `run` until `leaseUntil` (epoch ms), unless it has ended or another run's
   * lease has not lapsed by `now`: the mark, or undefined when it is not this run's to purge. */
  claimPurge(gid: string, run: string, now: number, leaseUntil: number): Promise<DeletionMark | undefined>
  /** Up to `limit` of the group's items (its mark aside), or of its memberships alone, read consistently,
   * after sort key `after`. */
  readPurgePage(gid: string, limit: number, after?: string, memberships?: boolean): Promise<PurgePage>
  /** Lets a page's members go: its joined members' sets of joined groups lose the group, and its members and
   * invitees get their notices. */
  releaseMembers(mark: DeletionMark, page: PurgePage): Promise<void>
  /** Deletes a page's items. */
  removePurgePage(page: PurgePage): Promise<void>
  /** Ends `run`'s purge: the mark stays a day, marked purged, and its gid may be taken again; false when
   * `run` no longer holds it. */
  endPurge(gid: string, run: string): Promise<boolean>
}

/** One purge of a deleted group as a worker runs it: its run's id (its lease), and where it goes on from. */
export interface PurgeRun {
  gid: string
  run: string
  /** Its members are let go first (their notices, their sets of joined groups), then every item is removed;
   * `members` when absent. */
  phase?: 'members' | 'items'
  /** The sort key after which the phase's next page starts; from the start when absent. */
  after?: string
}

/** Hands purges to a worker (an asynchronous invocation in AWS). */
export interface PurgeWorkers {
  dispatch(run: PurgeRun): Promise<void>
}

/** An identity's side of its groups: its memberships, its pending invites and the groups deleted under it. */
export interface MembershipIndex {
  /** An identity's memberships (left ones too), sorted by gid; a page after gid `after` when asked. */
  membershipsOf(iss: string, page?: { after?: string; limit: number }): Promise<Member[]>
  /** How many invites `iss` has pending, counted no further than `atMost`. */
  pendingInvites(iss: string, atMost: number): Promise<number>
  /** The deletions of groups `iss` was in, in the last 30 days: at most `limit`. */
  deletedGroupsOf(iss: string, limit: number): Promise<GroupDeletedEvent[]>
}

/** Each device's published key packages, each handed out once. */
export interface KeyPackageStore {
  /** The unexpired key packages of `iss` (of one device when given), in key order. */
  keyPackageRefs(iss: string, at: Date, device?: string): Promise<KeyPackageRef[]>
  /** Stores key packages (base64) of one device with signature key `key`, all or none; each expires at its
   * `expiresAt`. */
  addKeyPackages(
    iss: string,
    device: string,
    key: string,
    packages: { ref: string; keyPackage: string; expiresAt: number }[],
  ): Promise<void>
  /** Deletes one key package and answers it, unless it is gone (or expired) already: each is handed out once. */
  takeKeyPackage(iss: string, which: KeyPackageRef, at: Date): Promise<string | undefined>
}

/** Each identity's signed device lists, one version after another. */
export interface DeviceListStore {
  /** Every version of an identity's device list, oldest first. */
  deviceLists(iss: string): Promise<DeviceList[]>
  /** Stores the next version of a device list; false when that version exists already (a race). */
  addDeviceList(list: DeviceList): Promise<boolean>
}

/** Who blocks whom. */
export interface BlockStore {
  /** Records that `block.blocker` blocks `block.iss`, or with `blocked` false forgets it. */
  setBlock(block: Block, blocked: boolean): Promise<void>
  /** Which of these pairs are blocks. */
  findBlocks(pairs: Block[]): Promise<Block[]>
  /** One page of the identities `blocker` blocks, in order, after `after` when given. */
  blocksOf(blocker: string, page: { after?: string; limit: number }): Promise<string[]>
}

/** Fixed-window counts of an identity's actions (groups created an hour, uploads, claims). */
export interface Quotas {
  /** Counts one `action` of `iss` in the current fixed window of `windowSeconds`; when `limit` is spent,
   * nothing is counted and the answer is the seconds until the window ends. */
  spend(
    iss: string,
    action: string,
    limit: number,
    windowSeconds: number,
    at: Date,
  ): Promise<number | undefined>
}

/** Token buckets shared by every function instance: an identity's request rate. */
export interface RateBuckets {
  /** Takes one token from `iss`'s `bucket`, which refills at `limit.perSecond` and holds up to `limit.burst`,
   * the same bucket for every function instance; undefined when taken, else the seconds until one is there. */
  takeToken(iss: string, bucket: string, limit: RateLimit, at: Date): Promise<number | undefined>
}

/** Who is connected where. */
export interface ConnectionStore {
  /** Records a connection, also in the identity's joined memberships; answers how many groups it has joined. */
  saveConnection(connection: Connection): Promise<number>
  /** Forgets a connection, also in the identity's memberships; the identity is looked up when not given. */
  deleteConnection(connectionId: string, iss?: string): Promise<void>
  /** The open connection ids of each identity, read in batches. */
  connectionsOf(isses: string[]): Promise<Map<string, string[]>>
}

/** One identity's presence as the table keeps it. */
export interface PresenceRecord {
  iss: string
  /** Announced online: from its first connection until the grace after its last one ends. */
  online: boolean
  /** It has an open connection now. */
  connected: boolean
  hidden: boolean
  /** When it came online. */
  since?: string
  /** When its last connection closed, while the grace runs. */
  leftAt?: string
  /** When it went offline (its last connection's close). */
  lastSeen?: string
}

/** Presence beside each identity's connections: each change a condition on them, so that a reconnect within
 * the grace period is no departure. */
export interface PresenceStore {
  /** Counts the identity online; true when it was not (its members are to be told). */
  markOnline(iss: string, at: string): Promise<boolean>
  /** Notes that its last connection closed at `at`; false when it has one left, or was not online. */
  markLeaving(iss: string, at: string): Promise<boolean>
  /** Counts it offline, last seen at `leftAt`, when it has still no connection and nothing reopened since. */
  markOffline(iss: string, leftAt: string): Promise<boolean>
  /** Hides or shows its presence; true when that changed it. */
  setHidden(iss: string, hidden: boolean): Promise<boolean>
  /** The records of some identities (none for one never connected), read consistently. */
  presenceOf(isses: string[]): Promise<Map<string, PresenceRecord>>
  /** The groups the identity has joined, each with its number of joined members. */
  joinedGroupSizes(iss: string): Promise<Map<string, number>>
}

/** A presence change to announce: `leftAt` when its last connection closed then (and the grace has run);
 * `shown` when it hid or showed its presence (the one change of a hidden identity that is announced). */
export interface PresenceChange {
  iss: string
  leftAt?: string
  shown?: boolean
}

/** Where presence changes wait to be announced, each after its delay (an SQS queue with DelaySeconds). */
export interface PresenceChanges {
  schedule(change: PresenceChange, delaySeconds: number): Promise<void>
}

/** Leases on the slices of a large fan-out, so that each slice is posted by one worker at a time and once done. */
export interface FanOutSlices {
  /**
   * Takes fan-out slice `id` for `owner` until `leaseUntil` (epoch ms), unless it is done or another owner's
   * lease has not ended by `now`: how many of its targets (a prefix) were posted already, or undefined when
   * it is not this owner's to post. Its record expires at `expiresAt` (epoch seconds).
   */
  claimSlice(
    id: string,
    owner: string,
    now: number,
    leaseUntil: number,
    expiresAt: number,
  ): Promise<number | undefined>
  /** Records, while `owner` holds the slice, that its first `posted` targets are posted, and ends the lease;
   * `done` when they are all. */
  recordSlice(id: string, owner: string, posted: number, done: boolean): Promise<void>
}

/** Every store port: what wires the whole chat at once (tests, benchmarks, tools). */
export type Stores = GroupStore &
  GroupPurges &
  MembershipIndex &
  KeyPackageStore &
  DeviceListStore &
  BlockStore &
  Quotas &
  RateBuckets &
  ConnectionStore &
  FanOutSlices

/** A token bucket: it refills at `perSecond` tokens a second and holds at most `burst`. */
export interface RateLimit {
  perSecond: number
  burst: number
}

/** The bucket's objects, avatars and attached files: presigned uploads, checks before use, keeping,
 * presigned downloads, deleting. */
export interface ObjectStore {
  presignUpload(
    key: string,
    mime: string,
    size: number,
  ): Promise<{ url: string; headers: Record<string, string>; expires: string }>
  /** The stored object's size, declared type and first bytes; undefined when nothing is under the key. */
  inspect(key: string): Promise<{ size: number; mime: string; head: Uint8Array } | undefined>
  /** The stored object's bytes; undefined when nothing is under the key. */
  read(key: string): Promise<Uint8Array | undefined>
  /** Copies an object (an upload expires; its copy stays). */
  copy(from: string, to: string): Promise<void>
  delete(key: string): Promise<void>
  /** The keys under `prefix` (whatever names them), in key order. */
  list(prefix: string): Promise<string[]>
  presignDownload(key: string): Promise<{ url: string; expires: string }>
}

/** One connection an event goes to, and whose it is (a gone connection is forgotten for its identity). */
export interface DeliveryTarget {
  iss: string
  connectionId: string
}

/** One share of a large fan-out, handed to a worker: the event, serialized, and the connections it goes to. */
export interface FanOutSlice {
  /** Names the slice in every invocation of it: the fan-out's id and the slice's number. */
  id: string
  /** The event's type, for reports. */
  event: string
  data: string
  targets: DeliveryTarget[]
}

/** Hands fan-out slices to workers that post them (asynchronous invocations in AWS). */
export interface FanOutWorkers {
  dispatch(slice: FanOutSlice): Promise<void>
}

/** Posts one serialized event to one connection; 'gone' when the connection no longer exists. */
export interface EventSender {
  send(connectionId: string, data: string): Promise<'sent' | 'gone'>
}

/** What one fan-out did, for metrics and logs. */
export interface DeliveryReport {
  event: string
  recipients: number
  connections: number
  sent: number
  pruned: number
  failed: number
  /** Connections handed to workers, in slices (their posts are reported by the workers). */
  handedOver: number
  millis: number
}
