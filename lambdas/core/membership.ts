import type {
  AckResults,
  BanEvent,
  GroupPosition,
  GroupView,
  InviteEvent,
  JoinEvent,
  LeaveEvent,
  MemberView,
  RoleEvent,
} from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Avatars } from './avatars.js'
import type { Blocks } from './blocks.js'
import { forEachLimited } from './concurrency.js'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { leavesHeldBy } from './encrypted-groups.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { appendAt, memberOf, moved, readableWindows, requireJoined, untilLanded } from './group-log.js'
import type { Group, GroupState, Member } from './model.js'
import type { GroupStore, MembershipIndex, Quotas } from './ports.js'

/**
 * Who belongs to a group: invites (the group's creation among them), joins, leaves, departures admins
 * cause, the admin that every group keeps, and listing one's groups.
 */
export class Membership {
  constructor(
    private readonly context: ChatContext<GroupStore & MembershipIndex & Quotas> & WithDelivery,
    private readonly avatars: Avatars,
    private readonly blocks: Blocks,
  ) {}

  /**
   * Creates the group (the caller joins it as admin; a few groups an hour) or, for a joined member (an admin
   * when the group says so), invites more identities. Identities that block the caller, have too many
   * invites pending or are banned from the group are left out.
   */
  async invite(caller: Caller, frame: Frames['invite']): Promise<AckResults['invite']> {
    const named = [...new Set(frame.members)].filter((iss) => iss !== caller.iss)
    if (named.length === 0) throw new ChatError('BAD_REQUEST', 'invite: members must name someone else')
    if (named.length > limits.membersPerInvite) {
      throw new ChatError('TOO_LARGE', `invite: at most ${limits.membersPerInvite} members per invite`)
    }
    const { store } = this.context
    const invitees = await this.blocks.reachable(caller.iss, named)
    let avatar: Group['avatar']
    let counted = false
    const { group, members, newcomers } = await untilLanded(async () => {
      const state = await store.readGroup(frame.gid)
      const at = this.context.now().toISOString()
      const invited = (iss: string, since: number): Member => ({
        gid: frame.gid,
        iss,
        status: 'invited',
        role: 'member',
        invitedBy: caller.iss,
        invitedAt: at,
        since,
      })
      if (state === undefined) {
        if (!counted) await this.countNewGroup(caller)
        counted = true
        if (frame.avatar) avatar ??= await this.avatars.adopt(caller, frame.avatar.key, frame.gid, 'invite')
        const group: Group = {
          gid: frame.gid,
          name: frame.name,
          createdBy: caller.iss,
          createdAt: at,
          head: 0,
          departedSeq: 0,
          // An encrypted group's keys start at epoch 0, held by nobody until its creator's first commit.
          ...(frame.encrypted && { encrypted: true, epoch: 0 }),
        }
        if (avatar) group.avatar = avatar
        const creator: Member = {
          ...invited(caller.iss, 0),
          status: 'joined',
          role: 'admin',
          joinedAt: at,
          joinSeq: 0,
        }
        const members = [creator, ...invitees.map((iss) => invited(iss, 0))]
        requireRoom(members.length, this.context.settings.maxGroupSize)
        if (!(await store.createGroup(group, members))) return moved
        return { group, members, newcomers: invitees }
      }
      const me = requireJoined(state.members, caller.iss, 'invite')
      if (frame.encrypted && !state.group.encrypted) {
        throw new ChatError('BAD_REQUEST', `invite: ${frame.gid} exists, and is not encrypted`)
      }
      if (state.group.invites === 'admins' && me.role !== 'admin') {
        throw new ChatError('FORBIDDEN', `invite: only admins may invite to ${frame.gid}`)
      }
      // Identities that left may be invited again, unless banned; their new window starts now.
      const present = new Set(
        state.members.filter((m) => m.status !== 'left' || m.bannedBy !== undefined).map((m) => m.iss),
      )
      const newcomers = invitees.filter((iss) => !present.has(iss))
      requireRoom(present.size + newcomers.length, this.context.settings.maxGroupSize)
      // Each newcomer may read what follows the head it was invited at; one that left keeps its last window.
      const invitedAt = (head: number) =>
        newcomers.map((iss) => {
          const past = memberOf(state.members, iss)
          const [previous] = readableWindows(past, head).slice(-1)
          return {
            ...invited(iss, head),
            ...(previous && { previous }),
            ...(past?.leaves !== undefined && { leaves: past.leaves }),
          }
        })
      let { head } = state.group
      if (newcomers.length > 0) {
        const appended = await appendAt(state.group, (seq) =>
          store.addMembers(frame.gid, seq - 1, invitedAt(seq - 1)),
        )
        if (appended === moved || 'rejected' in appended) return moved
        head = appended.seq - 1
      }
      const added = invitedAt(head)
      return {
        group: state.group,
        members: [...state.members.filter((m) => !newcomers.includes(m.iss)), ...added],
        newcomers,
      }
    })

    const view = await this.groupView({ group, members })
    if (newcomers.length > 0) await this.context.delivery.deliver(inviteEvent(view, caller.iss), newcomers)
    return { group: view, invited: newcomers }
  }

  async join(caller: Caller, frame: Frames['join']): Promise<AckResults['join']> {
    return untilLanded(async () => {
      const state = await this.readGroup(frame.gid)
      const me = memberOf(state.members, caller.iss)
      if (me === undefined || me.status === 'left') {
        throw new ChatError('FORBIDDEN', `join: you are not invited to ${frame.gid}`)
      }
      if (me.status === 'joined') return { group: await this.groupView(state), seq: me.joinSeq ?? 0 }

      const at = this.context.now()
      const join = joinEvent(caller, frame.gid, at)
      // A joiner has had delivered, and has read, everything up to its join.
      const change = (seq: number) =>
        ({ status: 'joined', joinedAt: at.toISOString(), joinSeq: seq, delivered: seq, read: seq }) as const
      const appended = await appendAt(state.group, (seq) =>
        this.context.store.appendMembership(join(seq), change(seq), ['invited'], this.context.expiresAt(at)),
      )
      if (appended === moved || 'rejected' in appended) return moved
      // The joiner's other connections hear of it too.
      const event = join(appended.seq)
      await this.context.delivery.toMembers(event, state.members, caller, [caller.iss])
      Object.assign(me, change(event.seq))
      state.group.head = event.seq
      // A group whose admins all left before anyone else joined gets one now.
      if (!hasJoinedAdmin(state.members)) await this.keepAnAdmin(frame.gid)
      return { group: await this.groupView(state), seq: event.seq }
    })
  }

  /** Leaves the group, or declines its invite; leaving again answers with the first leave. */
  async leave(caller: Caller, frame: Frames['leave']): Promise<AckResults['leave']> {
    return untilLanded(async () => {
      const state = await this.readGroup(frame.gid)
      const me = memberOf(state.members, caller.iss)
      // One banned without ever being a member has a record, but was never in the group.
      if (me === undefined || (me.status === 'left' && me.leaveSeq === undefined)) {
        throw new ChatError('FORBIDDEN', `leave: you are not a member of ${frame.gid}`)
      }
      if (me.status === 'left') {
        // A leave whose succession a fault cut short completes it when repeated.
        if (!hasJoinedAdmin(state.members)) await this.keepAnAdmin(frame.gid)
        return { gid: frame.gid, seq: me.leaveSeq ?? state.group.head }
      }
      const seq = await this.depart(state, caller, caller.iss)
      return seq === moved ? moved : { gid: frame.gid, seq }
    })
  }

  /**
   * Appends `iss`'s departure and posts it to the members, to `iss` (an invited one too) and to the
   * caller's other connections: its leave, a removal (with `by`) when the caller is someone else, or its
   * ban. When the last admin departs, the member joined longest becomes admin. In an encrypted group, the
   * leaves `iss` holds become stale with it. Its seq, or `moved`.
   */
  async depart(state: GroupState, caller: Caller, iss: string, ban = false): Promise<number | typeof moved> {
    const at = this.context.now()
    const { gid } = state.group
    const stale = await leavesHeldBy(this.context.store, state.group, iss)
    if (stale === moved) return moved
    const departure = (seq: number): LeaveEvent | BanEvent => {
      const common = { gid, iss, seq, iat: at.toISOString() }
      if (ban) return { type: 'chat.ban', ...common, by: caller.iss }
      return { type: 'chat.leave', ...common, ...(iss !== caller.iss && { by: caller.iss }) }
    }
    const appended = await appendAt(
      state.group,
      (seq) =>
        this.context.store.appendMembership(
          departure(seq),
          { status: 'left', leaveSeq: seq, ...(ban && { bannedBy: caller.iss, bannedSeq: seq }) },
          ['invited', 'joined'],
          this.context.expiresAt(at),
          stale,
        ),
      iss !== caller.iss,
    )
    if (appended === moved || 'rejected' in appended) return moved
    const others = iss === caller.iss ? [iss] : [iss, caller.iss]
    await this.context.delivery.toMembers(departure(appended.seq), state.members, caller, others)
    const staying = state.members.filter((m) => m.iss !== iss)
    if (!hasJoinedAdmin(staying)) await this.keepAnAdmin(gid)
    return appended.seq
  }

  /**
   * Makes the member joined longest an admin when the group has joined members but no joined admin, and
   * tells the members. A departure that lost its admin calls it, and so does a join (a group whose last
   * admin left while nobody else had joined) and a departure repeated after a fault.
   */
  async keepAnAdmin(gid: string): Promise<void> {
    await untilLanded(async () => {
      const state = await this.context.store.readGroup(gid)
      if (state === undefined || hasJoinedAdmin(state.members)) return undefined
      const [successor] = state.members
        .filter((m) => m.status === 'joined')
        .sort((a, b) => (a.joinSeq ?? 0) - (b.joinSeq ?? 0) || (a.iss < b.iss ? -1 : 1))
      if (successor === undefined) return undefined
      const at = this.context.now()
      const event: RoleEvent = {
        type: 'chat.role',
        gid,
        iss: successor.iss,
        role: 'admin',
        seq: state.group.head + 1,
        iat: at.toISOString(),
      }
      const change = { role: { iss: successor.iss, role: 'admin' as const } }
      const outcome = await this.context.store.appendChange(event, change, this.context.expiresAt(at))
      if (outcome !== 'appended') return moved
      await this.context.delivery.toMembers(event, state.members)
      return undefined
    })
  }

  /**
   * One page of where the caller stands in each of its groups (left ones too, so a client that missed its
   * own leave can read up to it), and every pending invite of the page re-sent to the calling connection.
   */
  async sync(caller: Caller, frame: Frames['sync']): Promise<AckResults['sync']> {
    const { store, delivery } = this.context
    const page = await store.membershipsOf(caller.iss, {
      ...(frame.cursor !== undefined && { after: frame.cursor }),
      limit: limits.listPage + 1,
    })
    const mine = page.slice(0, limits.listPage)
    const found = new Map((await store.getGroups(mine.map((m) => m.gid))).map((g) => [g.gid, g]))
    const groups = mine.flatMap((m) => {
      const group = found.get(m.gid)
      return group === undefined ? [] : [position(m, group)]
    })

    let invites = 0
    const pending = mine.filter((m) => m.status === 'invited')
    const blocked = await this.blocks.blockedBy(
      caller.iss,
      pending.map((m) => m.invitedBy),
    )
    // The index behind membershipsOf lags a little: each pending invite is checked on the group itself.
    await forEachLimited(
      pending.filter((m) => !blocked.has(m.invitedBy)),
      8,
      async ({ gid }) => {
        const state = await store.readGroup(gid)
        const me = state && memberOf(state.members, caller.iss)
        if (state === undefined || me?.status !== 'invited' || blocked.has(me.invitedBy)) return
        const event = inviteEvent(await this.groupView(state), me.invitedBy)
        if (await delivery.toCaller(event, caller)) invites++
      },
    )
    const last = mine.at(-1)
    const deleted = frame.cursor === undefined ? await store.deletedGroupsOf(caller.iss, limits.listPage) : []
    return {
      iss: caller.iss,
      invites,
      groups,
      ...(page.length > mine.length && last && { next: last.gid }),
      ...(deleted.length > 0 && { deleted }),
    }
  }

  /** One page of the caller's groups (not the ones it left), with members, its read position and unread count. */
  async groups(caller: Caller, frame: Frames['groups']): Promise<AckResults['groups']> {
    const { store } = this.context
    const page = await store.membershipsOf(caller.iss, {
      ...(frame.cursor !== undefined && { after: frame.cursor }),
      limit: limits.groupsPage,
    })
    const listed: AckResults['groups']['groups'] = []
    const invitedBy = page.flatMap((m) => (m.status === 'invited' ? [m.invitedBy] : []))
    const blocked = await this.blocks.blockedBy(caller.iss, invitedBy)
    await forEachLimited(
      page.filter((m) => m.status !== 'left'),
      8,
      async ({ gid }) => {
        const state = await store.readGroup(gid)
        const me = state && memberOf(state.members, caller.iss)
        if (state === undefined || me === undefined || me.status === 'left') return
        if (me.status === 'invited' && blocked.has(me.invitedBy)) return
        const view = await this.groupView(state)
        if (me.status === 'invited') {
          listed.push({ ...view, status: 'invited', invitedBy: me.invitedBy, unread: 0 })
          return
        }
        const read = me.read ?? me.joinSeq ?? 0
        const unread = await store.messageSenders(
          gid,
          { after: Math.max(read, me.since), through: state.group.head },
          caller.iss,
          limits.unreadCount,
        )
        listed.push({ ...view, status: 'joined', read, unread: unread.length })
      },
    )
    const last = page.at(-1)
    return {
      groups: listed.sort((a, b) => a.gid.localeCompare(b.gid)),
      ...(page.length === limits.groupsPage && last && { next: last.gid }),
    }
  }

  /** One page of a group's members, for those who belong to it (invited or joined). */
  async members(caller: Caller, frame: Frames['members']): Promise<AckResults['members']> {
    const state = await this.readGroup(frame.gid)
    const me = memberOf(state.members, caller.iss)
    if (me === undefined || me.status === 'left') {
      throw new ChatError('FORBIDDEN', `members: you are not a member of ${frame.gid}`)
    }
    const { cursor } = frame
    const present = currentMembers(state.members).filter((m) => cursor === undefined || m.iss > cursor)
    const page = present.slice(0, limits.listPage)
    const last = page.at(-1)
    return { gid: frame.gid, members: page, ...(present.length > page.length && last && { next: last.iss }) }
  }

  /** A new group counts against its creator's groups this hour. */
  private async countNewGroup(caller: Caller): Promise<void> {
    const { groupsPerHour } = this.context.settings
    const refusal = await this.context.store.spend(
      caller.iss,
      'group',
      groupsPerHour,
      60 * 60,
      this.context.now(),
    )
    if (refusal !== undefined) {
      throw new ChatError('RATE_LIMITED', `invite: at most ${groupsPerHour} new groups an hour`, refusal)
    }
  }

  async readGroup(gid: string): Promise<GroupState> {
    const state = await this.context.store.readGroup(gid)
    if (state === undefined) throw new ChatError('NOT_FOUND', `no group ${gid}`)
    return state
  }

  /** The group as clients see it: its first members (not the ones who left), and a fresh avatar link. */
  async groupView({ group, members }: GroupState): Promise<GroupView> {
    const present = currentMembers(members)
    const view: GroupView = {
      gid: group.gid,
      name: group.name,
      head: group.head,
      members: present.slice(0, limits.membersInView),
      memberCount: present.length,
      invites: group.invites ?? 'members',
      ...(group.encrypted && { encrypted: true }),
    }
    if (group.avatar) view.image = await this.avatars.link(group.avatar)
    return view
  }
}

/** The caller's join, for the seq it will take. */
function joinEvent(caller: Caller, gid: string, at: Date) {
  return (seq: number): JoinEvent => ({ type: 'chat.join', gid, iss: caller.iss, seq, iat: at.toISOString() })
}

function hasJoinedAdmin(members: Member[]): boolean {
  return members.some((m) => m.status === 'joined' && m.role === 'admin')
}

function requireRoom(members: number, max: number): void {
  if (members > max) throw new ChatError('TOO_LARGE', `invite: a group may have at most ${max} members`)
}

/** Members as clients see them, sorted by identity: not the ones who left. */
function currentMembers(members: Member[]): MemberView[] {
  return members
    .flatMap(({ iss, status, role }) => (status === 'left' ? [] : [{ iss, status, role }]))
    .sort((a, b) => (a.iss < b.iss ? -1 : 1))
}

function inviteEvent(group: GroupView, inviter: string): InviteEvent {
  return {
    type: 'chat.invite',
    gid: group.gid,
    name: group.name,
    iss: inviter,
    members: group.members.map((m) => m.iss),
    memberCount: group.memberCount,
    admins: group.members.filter((m) => m.role === 'admin').map((m) => m.iss),
    invites: group.invites,
    ...(group.image && { image: group.image }),
    ...(group.encrypted && { encrypted: true }),
  }
}

/** A member's standing for sync: the last event it may read (its leave once it has left; 0 while it may
 * read nothing), and its join. */
function position(member: Member, group: Group): GroupPosition {
  return {
    gid: member.gid,
    status: member.status,
    head: readableWindows(member, group.head).at(-1)?.through ?? 0,
    ...(member.status !== 'invited' && member.joinSeq !== undefined && { joinSeq: member.joinSeq }),
    ...(group.encrypted && { encrypted: true }),
  }
}
