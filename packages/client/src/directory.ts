import type { GroupInfo, GroupState, MembershipStatus } from './group-info.js'
import type { GroupEvent, ImageLink, InvitePolicy, Role } from './protocol.js'

/** What an event changes in a group object; this client's own admin writes give it from request and ack. */
export type StateChange = Pick<GroupEvent, 'type' | 'gid' | 'seq' | 'iss'> & {
  name?: string
  image?: ImageLink
  invites?: InvitePolicy
  role?: Role
}

interface Entry<G> {
  group: G
  /** The seq the object's state stands at: the head of the last view it took, or the last event it took. */
  at: number
}

/**
 * The one object a client hands out per group (a ChatGroup), kept current: events change it in the group's
 * order, and a view from the server (as of its `head`) replaces it unless the object has taken a later event.
 */
export class GroupDirectory<G extends GroupState> {
  readonly #entries = new Map<string, Entry<G>>()
  readonly #create: (info: GroupInfo, status: MembershipStatus) => G

  constructor(create: (info: GroupInfo, status: MembershipStatus) => G) {
    this.#create = create
  }

  get(gid: string): G | undefined {
    return this.#entries.get(gid)?.group
  }

  /**
   * The group as the server showed it: a view as of `head`, or an invite (no head, always taken). Returns
   * the group's one object, made now when there is none; `group` makes that object the one.
   */
  show(info: GroupInfo, status: MembershipStatus, head?: number, group?: G): G {
    let entry = this.#entries.get(info.gid)
    if (group !== undefined && entry?.group !== group) {
      entry = { group, at: -1 }
      this.#entries.set(info.gid, entry)
    }
    if (entry === undefined) {
      const created = this.#create(info, status)
      this.#entries.set(info.gid, { group: created, at: head ?? 0 })
      return created
    }
    if (head === undefined || head >= entry.at) {
      take(entry.group, info)
      entry.group.status = status
      if (head !== undefined) entry.at = head
    }
    return entry.group
  }

  /** Takes one change in the group's order; `me` is this client's identity. Returns the group's object. */
  apply(change: StateChange, me: string | undefined): G | undefined {
    const entry = this.#entries.get(change.gid)
    if (entry === undefined || change.seq <= entry.at) return entry?.group
    entry.at = change.seq
    const { group } = entry
    switch (change.type) {
      case 'chat.update':
        if (change.name !== undefined) group.name = change.name
        if (change.image !== undefined) group.image = change.image
        if (change.invites !== undefined) group.invites = change.invites
        break
      case 'chat.role':
        group.admins = without(group.admins, change.iss)
        if (change.role === 'admin') group.admins = [...group.admins, change.iss].sort()
        break
      case 'chat.ban':
        group.admins = without(group.admins, change.iss)
        if (change.iss === me) group.status = 'left'
        else if (group.members.includes(change.iss)) {
          group.members = without(group.members, change.iss)
          group.memberCount--
        }
        break
      case 'chat.leave':
        group.admins = without(group.admins, change.iss)
        if (change.iss === me) group.status = 'left'
        break
      case 'chat.join':
        if (change.iss === me) group.status = 'joined'
    }
    return group
  }

  /** The group is gone (deleted): its object is left and no longer kept. */
  forget(gid: string): G | undefined {
    const group = this.#entries.get(gid)?.group
    this.#entries.delete(gid)
    if (group !== undefined) group.status = 'left'
    return group
  }
}

function take(group: GroupState, info: GroupInfo): void {
  group.name = info.name
  group.members = [...info.members]
  group.memberCount = info.memberCount
  group.image = info.image
  group.admins = [...info.admins]
  group.invites = info.invites
  if (info.invitedBy !== undefined) group.invitedBy = info.invitedBy
  if (info.encrypted) group.encrypted = true
}

function without(identities: string[], iss: string): string[] {
  return identities.filter((identity) => identity !== iss)
}
