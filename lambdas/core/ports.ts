/** The ports the chat core depends on; adapters implement them over DynamoDB, S3 and the management API. */

import type { MessageEvent } from './protocol.js'

export type MemberStatus = 'invited' | 'joined'

export interface Member {
  gid: string
  iss: string
  status: MemberStatus
  role: 'admin' | 'member'
  invitedBy: string
  invitedAt: string
  joinedAt?: string
}

export interface Group {
  gid: string
  name: string
  createdBy: string
  createdAt: string
  avatar?: { key: string; mime: string }
}

/** A group message as stored: the event without its type. */
export type StoredMessage = Omit<MessageEvent, 'type'>

export interface Connection {
  connectionId: string
  iss: string
  connectedAt: string
  /** Epoch seconds after which the gateway has closed it anyway (2 h). */
  expiresAt: number
}

/** Persistence of groups, memberships, messages and connections. Conflicts throw ChatError('CONFLICT'). */
export interface ChatStore {
  getGroup(gid: string): Promise<Group | undefined>
  getGroups(gids: string[]): Promise<Group[]>
  /** Every member of a group, read consistently. */
  listMembers(gid: string): Promise<Member[]>
  /** Creates the group and its first members atomically; CONFLICT if the gid is taken. */
  createGroup(group: Group, members: Member[]): Promise<void>
  /** Adds members atomically; CONFLICT if any of them became a member meanwhile. */
  addMembers(members: Member[]): Promise<void>
  /** NOT_FOUND if the membership is gone meanwhile. */
  markJoined(gid: string, iss: string, joinedAt: string): Promise<void>
  /** NOT_FOUND if the membership is gone meanwhile. */
  removeMember(gid: string, iss: string): Promise<void>
  /** Stores a message once per (sender, jti); a retry is told so, with the time the first was stored. */
  saveMessage(message: StoredMessage): Promise<{ iat: string; duplicate: boolean }>
  /** The groups an identity belongs to, with its status in each. */
  membershipsOf(iss: string): Promise<{ gid: string; status: MemberStatus; invitedBy: string }[]>
  saveConnection(connection: Connection): Promise<void>
  /** Forgets a connection; the identity is looked up when not given. */
  deleteConnection(connectionId: string, iss?: string): Promise<void>
  /** The open connection ids of each identity, read in batches. */
  connectionsOf(isses: string[]): Promise<Map<string, string[]>>
}

/** Avatar objects: presigned uploads, checks before use, presigned downloads. */
export interface AvatarStore {
  presignUpload(
    key: string,
    mime: string,
    size: number,
  ): Promise<{ url: string; headers: Record<string, string>; expires: string }>
  /** The stored object's size and type, or undefined when nothing was uploaded under the key. */
  describe(key: string): Promise<{ size: number; mime: string } | undefined>
  presignDownload(key: string): Promise<{ url: string; expires: string }>
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
  millis: number
}
