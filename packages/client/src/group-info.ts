import type { GroupView, ImageLink, InvitePolicy } from './protocol.js'

/** The caller's own standing in a group, as far as this client has seen. */
export type MembershipStatus = 'invited' | 'joined' | 'left'

/** What a group looks like on the wire, with members flattened to identities and their admins picked out. */
export interface GroupInfo {
  gid: string
  name: string
  members: string[]
  memberCount: number
  image?: ImageLink
  invitedBy?: string
  admins: string[]
  /** Unknown for an invite from a server that does not send it. */
  invites?: InvitePolicy
  encrypted?: boolean
}

/** The part of a group's object that views and events change: what the directory keeps current. */
export interface GroupState {
  name: string
  members: string[]
  memberCount: number
  image: ImageLink | undefined
  admins: string[]
  invites: InvitePolicy | undefined
  status: MembershipStatus
  encrypted: boolean
  invitedBy: string | undefined
}

/** A server's view of a group as GroupInfo: identities in member order, admins picked out. */
export function flatten({
  gid,
  name,
  members,
  memberCount,
  image,
  invites,
  encrypted,
}: GroupView): GroupInfo {
  return {
    gid,
    name,
    members: members.map((member) => member.iss),
    memberCount,
    ...(image !== undefined && { image }),
    admins: members.flatMap((member) => (member.role === 'admin' ? [member.iss] : [])),
    invites,
    ...(encrypted && { encrypted }),
  }
}
