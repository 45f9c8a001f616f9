import { forEachLimited } from './concurrency.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import type {
  AvatarStore,
  ChatStore,
  DeliveryReport,
  EventSender,
  Group,
  Member,
  MemberStatus,
} from './ports.js'
import type { AckResults, ChatEvent, GroupView, ImageLink } from './protocol.js'
import { limits } from './protocol.js'

/** Who is calling: the identity from the verified token and the connection the frame came on. */
export interface Caller {
  iss: string
  connectionId: string
}

export interface ChatDeps {
  store: ChatStore
  avatars: AvatarStore
  sender: EventSender
  now?: () => Date
  newId?: () => string
  /** Posts in flight at once during one fan-out. */
  fanOutConcurrency?: number
  onDelivery?: (report: DeliveryReport) => void
}

const bodyEncoder = new TextEncoder()

/** The membership rules of group chat and the fan-out that follows them; no AWS in sight. */
export class Chat {
  private readonly now: () => Date
  private readonly newId: () => string
  private readonly fanOutConcurrency: number

  constructor(private readonly deps: ChatDeps) {
    this.now = deps.now ?? (() => new Date())
    this.newId = deps.newId ?? (() => crypto.randomUUID())
    this.fanOutConcurrency = deps.fanOutConcurrency ?? 32
  }

  async connect(caller: Caller): Promise<void> {
    const connectedAt = this.now()
    await this.deps.store.saveConnection({
      ...caller,
      connectedAt: connectedAt.toISOString(),
      expiresAt: Math.ceil(connectedAt.getTime() / 1000) + limits.lifetimeSeconds,
    })
  }

  async disconnect(connectionId: string): Promise<void> {
    await this.deps.store.deleteConnection(connectionId)
  }

  async requestAvatarUpload(caller: Caller, frame: Frames['avatar']): Promise<AckResults['avatar']> {
    if (frame.size > limits.avatarBytes) {
      throw new ChatError('TOO_LARGE', `avatar is ${frame.size} bytes; the limit is ${limits.avatarBytes}`)
    }
    const key = `${avatarPrefix(caller.iss)}${this.newId()}`
    const upload = await this.deps.avatars.presignUpload(key, frame.mime, frame.size)
    return { ...upload, method: 'PUT', key }
  }

  async invite(caller: Caller, frame: Frames['invite']): Promise<AckResults['invite']> {
    const invitees = [...new Set(frame.members)].filter((iss) => iss !== caller.iss)
    if (invitees.length === 0) throw new ChatError('BAD_REQUEST', 'invite: members must name someone else')
    if (invitees.length > limits.membersPerInvite) {
      throw new ChatError('TOO_LARGE', `invite: at most ${limits.membersPerInvite} members per invite`)
    }
    const existing = await this.deps.store.getGroup(frame.gid)
    const at = this.now().toISOString()
    const invited = (iss: string): Member => ({
      gid: frame.gid,
      iss,
      status: 'invited',
      role: 'member',
      invitedBy: caller.iss,
      invitedAt: at,
    })

    let group: Group
    let members: Member[]
    let newcomers: string[]
    if (existing === undefined) {
      group = { gid: frame.gid, name: frame.name, createdBy: caller.iss, createdAt: at }
      if (frame.avatar) group.avatar = await this.checkAvatar(caller, frame.avatar.key)
      const creator: Member = { ...invited(caller.iss), status: 'joined', role: 'admin', joinedAt: at }
      members = [creator, ...invitees.map(invited)]
      newcomers = invitees
      await this.deps.store.createGroup(group, members)
    } else {
      group = existing
      const current = await this.deps.store.listMembers(frame.gid)
      requireJoined(current, caller.iss, 'invite')
      const known = new Set(current.map((m) => m.iss))
      newcomers = invitees.filter((iss) => !known.has(iss))
      const added = newcomers.map(invited)
      if (added.length > 0) await this.deps.store.addMembers(added)
      members = [...current, ...added]
    }

    const view = await this.groupView(group, members)
    if (newcomers.length > 0) await this.deliver(inviteEvent(view, caller.iss), newcomers)
    return { group: view, invited: newcomers }
  }

  async join(caller: Caller, frame: Frames['join']): Promise<AckResults['join']> {
    const [group, members] = await this.groupWithMembers(frame.gid)
    const me = members.find((m) => m.iss === caller.iss)
    if (me === undefined) throw new ChatError('FORBIDDEN', `join: you are not invited to ${frame.gid}`)
    if (me.status !== 'joined') {
      me.joinedAt = this.now().toISOString()
      await this.deps.store.markJoined(frame.gid, caller.iss, me.joinedAt)
      me.status = 'joined'
      await this.deliver({ type: 'chat.join', gid: frame.gid, iss: caller.iss }, joined(members), caller)
    }
    return { group: await this.groupView(group, members) }
  }

  async leave(caller: Caller, frame: Frames['leave']): Promise<AckResults['leave']> {
    const [, members] = await this.groupWithMembers(frame.gid)
    if (!members.some((m) => m.iss === caller.iss)) {
      throw new ChatError('FORBIDDEN', `leave: you are not a member of ${frame.gid}`)
    }
    await this.deps.store.removeMember(frame.gid, caller.iss)
    const remaining = joined(members).filter((iss) => iss !== caller.iss)
    await this.deliver(
      { type: 'chat.leave', gid: frame.gid, iss: caller.iss },
      [...remaining, caller.iss],
      caller,
    )
    return { gid: frame.gid }
  }

  async message(caller: Caller, frame: Frames['message']): Promise<AckResults['message']> {
    if (bodyEncoder.encode(frame.body).length > limits.bodyBytes) {
      throw new ChatError('TOO_LARGE', `message: body is over ${limits.bodyBytes} bytes`)
    }
    const members = await this.deps.store.listMembers(frame.gid)
    if (members.length === 0) throw new ChatError('NOT_FOUND', `message: no group ${frame.gid}`)
    requireJoined(members, caller.iss, 'message')

    // Connections are read before the write, so a store fault after the write cannot leave a stored
    // message undelivered behind an error (its retry would be a duplicate and not delivered again).
    const plan = await this.plan(joined(members), caller)
    const message = {
      gid: frame.gid,
      iss: caller.iss,
      jti: frame.jti ?? this.newId(),
      body: frame.body,
      iat: this.now().toISOString(),
      ...(frame.rid && { rid: frame.rid }),
    }
    const { iat, duplicate } = await this.deps.store.saveMessage(message)
    if (!duplicate) await this.post({ type: 'chat.message', ...message }, plan)
    return { gid: message.gid, jti: message.jti, iat, duplicate }
  }

  /** Re-sends every pending invite to the calling connection, for identities that were offline. */
  async sync(caller: Caller): Promise<AckResults['sync']> {
    let invites = 0
    for (const { group, me } of await this.groupsOf(caller.iss, 'invited')) {
      const event = inviteEvent(group, me.invitedBy)
      if ((await this.deps.sender.send(caller.connectionId, JSON.stringify(event))) === 'sent') invites++
    }
    return { invites }
  }

  async groups(caller: Caller): Promise<AckResults['groups']> {
    const found = await this.groupsOf(caller.iss)
    return { groups: found.map(({ group, me }) => ({ ...group, status: me.status })) }
  }

  /** The identity's groups (those where its status is `status`, if given), sorted by gid. */
  private async groupsOf(iss: string, status?: MemberStatus): Promise<{ group: GroupView; me: Member }[]> {
    const memberships = (await this.deps.store.membershipsOf(iss)).filter(
      (m) => !status || m.status === status,
    )
    const groups = await this.deps.store.getGroups(memberships.map((m) => m.gid))
    const found: { group: GroupView; me: Member }[] = []
    await forEachLimited(groups, 8, async (group) => {
      const members = await this.deps.store.listMembers(group.gid)
      const me = members.find((m) => m.iss === iss)
      if (me && (!status || me.status === status))
        found.push({ group: await this.groupView(group, members), me })
    })
    return found.sort((a, b) => a.group.gid.localeCompare(b.group.gid))
  }

  private async checkAvatar(caller: Caller, key: string): Promise<{ key: string; mime: string }> {
    if (!key.startsWith(avatarPrefix(caller.iss))) {
      throw new ChatError('FORBIDDEN', 'invite: avatar key was not issued to you')
    }
    const object = await this.deps.avatars.describe(key)
    if (object === undefined)
      throw new ChatError('NOT_FOUND', 'invite: no avatar was uploaded under that key')
    if (object.size > limits.avatarBytes) throw new ChatError('TOO_LARGE', 'invite: the avatar is over 5 MiB')
    if (!object.mime.startsWith('image/'))
      throw new ChatError('BAD_REQUEST', 'invite: the avatar is not an image')
    return { key, mime: object.mime }
  }

  private async groupWithMembers(gid: string): Promise<[Group, Member[]]> {
    const [group, members] = await Promise.all([
      this.deps.store.getGroup(gid),
      this.deps.store.listMembers(gid),
    ])
    if (group === undefined) throw new ChatError('NOT_FOUND', `no group ${gid}`)
    return [group, members]
  }

  private async groupView(group: Group, members: Member[]): Promise<GroupView> {
    const view: GroupView = {
      gid: group.gid,
      name: group.name,
      members: members.map(({ iss, status, role }) => ({ iss, status, role })),
    }
    if (group.avatar) view.image = await this.imageLink(group.avatar)
    return view
  }

  private async imageLink(avatar: { key: string; mime: string }): Promise<ImageLink> {
    const { url, expires } = await this.deps.avatars.presignDownload(avatar.key)
    return { url, mime: avatar.mime, expires }
  }

  /** Posts one event to every connection of each recipient, except the connection it came from. */
  private async deliver(event: ChatEvent, recipients: string[], origin?: Caller): Promise<void> {
    await this.post(event, await this.plan(recipients, origin))
  }

  /** Reads the recipients' connections in batches; the originating connection is left out. */
  private async plan(recipients: string[], origin?: Caller): Promise<DeliveryPlan> {
    const started = Date.now()
    const connections = await this.deps.store.connectionsOf(recipients)
    const targets: DeliveryPlan['targets'] = []
    for (const [iss, ids] of connections) {
      for (const connectionId of ids)
        if (connectionId !== origin?.connectionId) targets.push({ iss, connectionId })
    }
    return { recipients: recipients.length, targets, started }
  }

  /**
   * Posts the event, serialized once, with bounded concurrency. A gone connection is the recipient's
   * stale one: it is forgotten and the others still get the event.
   */
  private async post(event: ChatEvent, plan: DeliveryPlan): Promise<void> {
    const data = JSON.stringify(event)
    const report: DeliveryReport = {
      event: event.type,
      recipients: plan.recipients,
      connections: plan.targets.length,
      sent: 0,
      pruned: 0,
      failed: 0,
      millis: 0,
    }
    await forEachLimited(plan.targets, this.fanOutConcurrency, async ({ iss, connectionId }) => {
      try {
        if ((await this.deps.sender.send(connectionId, data)) === 'sent') {
          report.sent++
        } else {
          report.pruned++
          await this.deps.store.deleteConnection(connectionId, iss)
        }
      } catch {
        report.failed++
      }
    })
    report.millis = Date.now() - plan.started
    this.deps.onDelivery?.(report)
  }
}

interface DeliveryPlan {
  recipients: number
  targets: { iss: string; connectionId: string }[]
  started: number
}

/** Avatar keys are issued under the uploader's prefix, so nobody can reuse someone else's upload. */
function avatarPrefix(iss: string): string {
  return `avatars/${iss}/`
}

function inviteEvent(group: GroupView, inviter: string): ChatEvent {
  return {
    type: 'chat.invite',
    gid: group.gid,
    name: group.name,
    iss: inviter,
    members: group.members.map((m) => m.iss),
    ...(group.image && { image: group.image }),
  }
}

function joined(members: Member[]): string[] {
  return members.filter((m) => m.status === 'joined').map((m) => m.iss)
}

function requireJoined(members: Member[], iss: string, action: string): void {
  const me = members.find((m) => m.iss === iss)
  if (me?.status !== 'joined') {
    throw new ChatError('FORBIDDEN', `${action}: only joined members may ${action} in this group`)
  }
}
