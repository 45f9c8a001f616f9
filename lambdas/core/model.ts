/** The chat's domain model: groups, memberships, their event log and connections, as the core and its stores see them. */

import type {
  BanEvent,
  CommitEvent,
  DeleteEvent,
  EditEvent,
  InvitePolicy,
  JoinEvent,
  LeaveEvent,
  MessageEvent,
  MlsBytes,
  ReactionEvent,
  RevertEvent,
  Role,
  RoleEvent,
  RosterLeaf,
  UnbanEvent,
  UpdateEvent,
} from '@huddle/client/protocol'

export type MemberStatus = 'invited' | 'joined' | 'left'

/** One identity's membership of a group; kept after a leave, so that its window stays known. */
export interface Member {
  gid: string
  iss: string
  status: MemberStatus
  role: Role
  invitedBy: string
  invitedAt: string
  /** The group's head when it was (last) invited: it may read only the events after this seq. */
  since: number
  joinedAt?: string
  /** Its join event (0 for the creator, who joins without one). */
  joinSeq?: number
  /** Its leave event: the last it may read. */
  leaveSeq?: number
  /** How many times this identity left the group (or declined an invite), kept when it is invited again. */
  leaves?: number
  /** How many times this identity joined the group, kept when it is invited again. */
  joins?: number
  /** Receipt positions: every event up to these seqs was delivered to, or read by, the member. */
  delivered?: number
  read?: number
  /** The group's head when its positions last moved, so that others can ask what moved since. */
  movedAt?: number
  /** The window of its last membership, kept when it is invited again, so its devices can still read up
   * to that leave. */
  previous?: Window
  /** The admin who banned the identity: it stays `left` and may not be invited until unbanned. An identity
   * banned without ever being a member has such a record too (with no window, and not in its index). */
  bannedBy?: string
  /** The events that last changed its role, banned it and unbanned it: what a repeated request answers. */
  roleSeq?: number
  bannedSeq?: number
  unbannedSeq?: number
}

/** A group and where its joined members are connected: every joined member, with its open connection ids
 * (maybe none), as of the group's head. */
export interface Recipients {
  group: Group
  connections: Map<string, string[]>
}

/** A stretch of a group's log: the seqs after `after`, up to and including `through`. */
export interface Window {
  after: number
  through: number
}

/** A group as its item keeps it: its settings, its log's head and its departures. */
export interface Group {
  gid: string
  name: string
  createdBy: string
  createdAt: string
  avatar?: StoredAvatar
  /** Who may invite; undefined is members. */
  invites?: InvitePolicy
  /** The seq of its latest `chat.update`: what an update that changes nothing answers. */
  updatedSeq?: number
  /** The seq of the latest event; the next event takes head + 1. */
  head: number
  /** The seq of the latest leave: a decision made on the members as they were after it still holds. */
  departedSeq: number
  /** Leaves (and declined invites) so far, each counted on its membership too (`leaves`), so that a read
   * can tell it saw every one of them; undefined for a group that has had none since the count began. */
  departures?: number
  /** The seq of the latest join: members read before it miss one who now receives the group's events. */
  arrivedSeq?: number
  /** Joins so far, each counted on its membership too (`joins`), as `departures` counts leaves. */
  arrivals?: number
  /** An end-to-end encrypted group (MLS): its keys are at `epoch` (0 before its first commit), and `stale`
   * are the leaves of identities that departed holding them, until a commit removes them. */
  encrypted?: true
  epoch?: number
  stale?: number[]
}

/** Who holds an encrypted group's keys at `epoch` (occupied leaves, in leaf order), and the GroupInfo its
 * latest commit published. */
export interface Roster {
  epoch: number
  leaves: RosterLeaf[]
  info?: MlsBytes
  /** Who made the latest commit. */
  committer?: string
  /** The epoch before, kept until the next commit so that a refused commit can be undone. */
  previous?: { epoch: number; leaves: RosterLeaf[]; info?: MlsBytes; stale: number[] }
}

/** A key package of one device, as the directory lists it: its KeyPackageRef (base64) and the device's
 * signature key it names. */
export interface KeyPackageRef {
  device: string
  ref: string
  key: string
}

/** A kept avatar: its object key and image type. */
export interface StoredAvatar {
  key: string
  mime: string
}

/** A group with every membership it has had, read together and consistently. */
export interface GroupState {
  group: Group
  members: Member[]
}

/** An event as the log keeps it: an edit or delete names the seq of its message, and a message the seq
 * of the last edit or delete that changed it. */
export type StoredEvent =
  | (MessageEvent & { revisedSeq?: number })
  | JoinEvent
  | LeaveEvent
  | ((EditEvent | DeleteEvent) & { target: number })
  | ReactionEvent
  | AdminEvent
  | CommitEvent
  | RevertEvent

/** An admin's change as the log keeps it: an update keeps its avatar's key, linked afresh when read. */
export type AdminEvent =
  | (Omit<UpdateEvent, 'image'> & { avatar?: StoredAvatar })
  | RoleEvent
  | BanEvent
  | UnbanEvent

/** What an admin event changes besides the log (a ban of a member goes through `appendMembership`). */
export type GroupChange =
  /** Fields of the group item. */
  | { group: Partial<Pick<Group, 'name' | 'avatar' | 'invites'>> }
  /** A joined member's role. */
  | { role: { iss: string; role: Role } }
  /** Bans an identity that is not a member (it left, or never was). */
  | { ban: { iss: string; by: string; at: string; head: number } }
  /** Lifts a ban. */
  | { unban: string }

/** A message's reactions as its item keeps them, one per member and emoji, and whether it was deleted. */
export interface ReactedMessage {
  seq: number
  deleted: boolean
  reactions: { iss: string; emoji: string }[]
}

/** Where a message id points: its sender and its seq. */
export interface MessageRef {
  iss: string
  seq: number
}

/**
 * What an append did: stored the event at its seq; `moved` when another event took that seq first, with
 * the group as it now stands; `rejected` when the change's own condition failed, with the record as it
 * stands (undefined when it is gone).
 */
export type Appended<T> = 'appended' | { moved: Group | undefined } | { rejected: T | undefined }

/** `blocker` has blocked `iss`: invites from `iss` do not reach `blocker`. */
export interface Block {
  blocker: string
  iss: string
}

/** Who is calling: the identity from the verified token and the connection the frame came on. */
export interface Caller {
  iss: string
  connectionId: string
}

/** An open connection of an identity. */
export interface Connection {
  connectionId: string
  iss: string
  connectedAt: string
  /** Epoch seconds after which the gateway has closed it anyway (2 h). */
  expiresAt: number
}
