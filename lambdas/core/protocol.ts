/** Wire protocol v1: what the server sends. Types only, so the client SDK shares them without runtime cost. */

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'RATE_LIMITED'
  | 'INTERNAL'

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
  role: 'admin' | 'member'
}

export interface GroupView {
  gid: string
  name: string
  members: MemberView[]
  image?: ImageLink
}

/** Result fields of each action's ack, keyed by action. */
export interface AckResults {
  avatar: { url: string; method: 'PUT'; headers: Record<string, string>; key: string; expires: string }
  invite: { group: GroupView; invited: string[] }
  join: { group: GroupView }
  leave: { gid: string }
  message: { gid: string; jti: string; iat: string; duplicate: boolean }
  sync: { invites: number }
  groups: { groups: (GroupView & { status: 'invited' | 'joined' })[] }
}

export type Action = keyof AckResults

export type Ack<A extends Action = Action> = { type: 'ack'; id?: string } & AckResults[A]

export interface ErrorReply {
  type: 'error'
  id?: string
  code: ErrorCode
  message: string
}

export interface InviteEvent {
  type: 'chat.invite'
  gid: string
  name: string
  /** The inviter. */
  iss: string
  members: string[]
  image?: ImageLink
}

export interface JoinEvent {
  type: 'chat.join'
  gid: string
  iss: string
}

export interface LeaveEvent {
  type: 'chat.leave'
  gid: string
  iss: string
}

export interface MessageEvent {
  type: 'chat.message'
  gid: string
  iss: string
  jti: string
  body: string
  rid?: string
  iat: string
}

export type ChatEvent = InviteEvent | JoinEvent | LeaveEvent | MessageEvent

export type ServerFrame = Ack | ErrorReply | ChatEvent

/** Limits of the contract (API Gateway's, enforced locally too). */
export const limits = {
  frameBytes: 128 * 1024,
  bodyBytes: 32 * 1024,
  avatarBytes: 5 * 1024 * 1024,
  membersPerInvite: 50,
  idleSeconds: 10 * 60,
  lifetimeSeconds: 2 * 60 * 60,
} as const
