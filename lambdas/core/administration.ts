import type { AckResults, BanEvent, GroupDeletedEvent, RoleEvent, UnbanEvent } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Avatars } from './avatars.js'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { memberOf, moved, requireJoined, untilLanded } from './group-log.js'
import type { GroupPurge } from './group-purge.js'
import type { Membership } from './membership.js'
import type { AdminEvent, GroupChange, GroupState, Member } from './model.js'
import type { GroupStore } from './ports.js'

/**
 * What a group's admins do: remove, ban and unban identities, rename the group, change its avatar and who
 * may invite, make members admins or take that back, and delete the group. Each change is an event of the
 * group's log, posted to the members; only a joined admin may make one.
 */
export class Administration {
  constructor(
    private readonly context: ChatContext<GroupStore> & WithDelivery,
    private readonly membership: Membership,
    private readonly avatars: Avatars,
    private readonly purge: GroupPurge,
  ) {}

  /**
   * Removes a member, invited or joined: the removal is its leave, with `by`, and reaches it once, then
   * nothing more; it may join again only when invited again. Removing one who is gone answers with its
   * leave.
   */
  async remove(caller: Caller, frame: Frames['remove']): Promise<AckResults['remove']> {
    if (frame.iss === caller.iss) throw new ChatError('BAD_REQUEST', 'remove: to leave a group, send leave')
    return untilLanded(async () => {
      const state = await this.readAsAdmin(caller, frame.gid, 'remove')
      const target = memberOf(state.members, frame.iss)
      // One banned without ever being a member has a record, but was never in the group.
      if (target === undefined || (target.status === 'left' && target.leaveSeq === undefined)) {
        throw new ChatError('NOT_FOUND', `remove: ${frame.iss} is not in ${frame.gid}`)
      }
      if (target.status === 'left') {
        return { gid: frame.gid, iss: frame.iss, seq: target.leaveSeq ?? state.group.head }
      }
      const seq = await this.membership.depart(state, caller, frame.iss)
      return seq === moved ? moved : { gid: frame.gid, iss: frame.iss, seq }
    })
  }

  /** Renames the group, changes its avatar (an upload checked as at creation) or who may invite. One that
   * changes nothing (sent again after a lost ack, say) answers with the group's last update. */
  async update(caller: Caller, frame: Frames['update']): Promise<AckResults['update']> {
    const fields: Extract<GroupChange, { group: unknown }>['group'] = {
      ...(frame.name !== undefined && { name: frame.name }),
      ...(frame.invites !== undefined && { invites: frame.invites }),
    }
    // A new avatar is copied once, before the first attempt, and only for an admin.
    if (frame.avatar) {
      await this.readAsAdmin(caller, frame.gid, 'update')
      fields.avatar = await this.avatars.adopt(caller, frame.avatar.key, frame.gid, 'update')
    }
    return untilLanded(async () => {
      const state = await this.readAsAdmin(caller, frame.gid, 'update')
      const { group } = state
      const same =
        (fields.name ?? group.name) === group.name &&
        (fields.invites ?? group.invites ?? 'members') === (group.invites ?? 'members') &&
        (fields.avatar ?? group.avatar)?.key === group.avatar?.key
      if (same) {
        const view = await this.membership.groupView(state)
        return { group: view, ...(group.updatedSeq !== undefined && { seq: group.updatedSeq }) }
      }
      const at = this.context.now()
      const event: AdminEvent = {
        type: 'chat.update',
        gid: frame.gid,
        iss: caller.iss,
        ...fields,
        seq: state.group.head + 1,
        iat: at.toISOString(),
      }
      const seq = await this.append(state, caller, event, { group: fields })
      if (seq === moved) return moved
      Object.assign(state.group, fields, { head: seq, updatedSeq: seq })
      return { group: await this.membership.groupView(state), seq }
    })
  }

  /** Makes a joined member an admin, or takes that back; the group's last admin stays one. Giving the role
   * it has answers with the event that gave it. */
  async role(caller: Caller, frame: Frames['role']): Promise<AckResults['role']> {
    return untilLanded(async () => {
      const state = await this.readAsAdmin(caller, frame.gid, 'role')
      const target = memberOf(state.members, frame.iss)
      if (target?.status !== 'joined') {
        throw new ChatError('BAD_REQUEST', `role: ${frame.iss} has not joined ${frame.gid}`)
      }
      const answer = { gid: frame.gid, iss: frame.iss, role: frame.role }
      if (target.role === frame.role) {
        return { ...answer, ...(target.roleSeq !== undefined && { seq: target.roleSeq }) }
      }
      const admins = state.members.filter((m) => m.status === 'joined' && m.role === 'admin')
      if (frame.role === 'member' && admins.length === 1) {
        throw new ChatError('FORBIDDEN', `role: ${frame.gid} must keep an admin; make another one first`)
      }
      const event: RoleEvent = {
        type: 'chat.role',
        ...this.about(state, caller, frame.iss),
        role: frame.role,
      }
      const seq = await this.append(state, caller, event, { role: { iss: frame.iss, role: frame.role } })
      return seq === moved ? moved : { ...answer, seq }
    })
  }

  /**
   * Bans an identity from the group: a member (invited or joined) departs with the ban, the last event it
   * receives; it cannot be invited or join until unbanned. Banning one already banned answers with its ban.
   */
  async ban(caller: Caller, frame: Frames['ban']): Promise<AckResults['ban']> {
    if (frame.iss === caller.iss) throw new ChatError('BAD_REQUEST', 'ban: you cannot ban yourself')
    return untilLanded(async () => {
      const state = await this.readAsAdmin(caller, frame.gid, 'ban')
      const target = memberOf(state.members, frame.iss)
      const answer = { gid: frame.gid, iss: frame.iss }
      if (target?.bannedSeq !== undefined) return { ...answer, seq: target.bannedSeq }
      if (target !== undefined && target.status !== 'left') {
        const seq = await this.membership.depart(state, caller, frame.iss, true)
        return seq === moved ? moved : { ...answer, seq }
      }
      const event: BanEvent = { type: 'chat.ban', ...this.about(state, caller, frame.iss) }
      const change = { ban: { iss: frame.iss, by: caller.iss, at: event.iat, head: state.group.head } }
      const seq = await this.append(state, caller, event, change)
      return seq === moved ? moved : { ...answer, seq }
    })
  }

  /** Lifts a ban: the identity may be invited again. Unbanning one not banned answers with its last unban. */
  async unban(caller: Caller, frame: Frames['unban']): Promise<AckResults['unban']> {
    return untilLanded(async () => {
      const state = await this.readAsAdmin(caller, frame.gid, 'unban')
      const answer = { gid: frame.gid, iss: frame.iss }
      const target = memberOf(state.members, frame.iss)
      if (target?.bannedBy === undefined) {
        return { ...answer, ...(target?.unbannedSeq !== undefined && { seq: target.unbannedSeq }) }
      }
      const event: UnbanEvent = { type: 'chat.unban', ...this.about(state, caller, frame.iss) }
      const seq = await this.append(state, caller, event, { unban: frame.iss })
      return seq === moved ? moved : { ...answer, seq }
    })
  }

  /** One page of the identities banned from the group, in order. */
  async bans(caller: Caller, frame: Frames['bans']): Promise<AckResults['bans']> {
    const state = await this.readAsAdmin(caller, frame.gid, 'bans')
    const { cursor } = frame
    const banned = state.members
      .filter((m) => m.bannedBy !== undefined && (cursor === undefined || m.iss > cursor))
      .map((m) => m.iss)
      .sort()
    const page = banned.slice(0, limits.listPage)
    const last = page.at(-1)
    return { gid: frame.gid, banned: page, ...(banned.length > page.length && last && { next: last }) }
  }

  /**
   * Deletes the group: marked deleted first (every later action finds no group), its members and pending
   * invitees are told, and the answer goes back at once; a purge worker then leaves each a notice for its next
   * sync and removes its log, memberships, avatars and files, a page at a time. Asked again, by the same admin,
   * it answers the same, and starts again a purge that has not ended (one still running goes on alone).
   */
  async deleteGroup(caller: Caller, frame: Frames['deleteGroup']): Promise<AckResults['deleteGroup']> {
    const { store } = this.context
    const marked = await untilLanded(async () => {
      const state = await store.readGroup(frame.gid)
      if (state === undefined) return undefined
      requireAdmin(state, caller, 'deleteGroup')
      const deleted = { by: caller.iss, at: this.context.now().toISOString() }
      return (await store.markDeleted(frame.gid, state.group.head, deleted)) ? { state, deleted } : moved
    })
    if (marked !== undefined) {
      const { state, deleted } = marked
      const event: GroupDeletedEvent = {
        type: 'chat.deleted',
        gid: frame.gid,
        iss: deleted.by,
        iat: deleted.at,
      }
      const present = state.members.filter((m) => m.status !== 'left').map((m) => m.iss)
      await this.context.delivery.deliver(event, present, caller)
      await this.purge.start(frame.gid)
      return { gid: frame.gid }
    }
    // Asked again by the admin who deleted it, the answer is the same (and a purge cut short goes on).
    const mark = await this.purge.mark(frame.gid)
    if (mark?.by !== caller.iss) throw new ChatError('NOT_FOUND', `deleteGroup: no group ${frame.gid}`)
    if (!mark.purged) await this.purge.start(frame.gid)
    return { gid: frame.gid }
  }

  /** Appends an admin's event strictly after the head it read (a change decided on stale roles or members
   * must be decided again) and posts it to the members and the caller's other connections. */
  private async append(
    state: GroupState,
    caller: Caller,
    event: AdminEvent,
    change: GroupChange,
  ): Promise<number | typeof moved> {
    const outcome = await this.context.store.appendChange(
      event,
      change,
      this.context.expiresAt(new Date(event.iat)),
    )
    if (outcome !== 'appended') return moved
    await this.context.delivery.toMembers(await this.avatars.present(event), state.members, caller)
    return event.seq
  }

  /** What an admin's event about identity `iss` says besides its type: it takes the seq after the head. */
  private about(state: GroupState, caller: Caller, iss: string) {
    const { gid, head } = state.group
    return { gid, iss, by: caller.iss, seq: head + 1, iat: this.context.now().toISOString() }
  }

  private async readAsAdmin(caller: Caller, gid: string, action: string): Promise<GroupState> {
    const state = await this.membership.readGroup(gid)
    requireAdmin(state, caller, action)
    return state
  }
}

function requireAdmin(state: GroupState, caller: Caller, action: string): Member {
  const me = requireJoined(state.members, caller.iss, action)
  if (me.role !== 'admin') {
    throw new ChatError('FORBIDDEN', `${action}: only an admin of ${state.group.gid} may do this`)
  }
  return me
}
