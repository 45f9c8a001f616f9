import { createHash } from 'node:crypto'
import type {
  BanEvent,
  DeleteEvent,
  EditEvent,
  JoinEvent,
  LeaveEvent,
  MessageEvent,
  ReactionEvent,
} from '@huddle/client/protocol'
import type {
  AdminEvent,
  Appended,
  Group,
  GroupChange,
  GroupState,
  Member,
  MemberStatus,
  MessageRef,
  ReactedMessage,
  Recipients,
  StoredEvent,
} from '../../core/model.js'
import type { GroupStore } from '../../core/ports.js'
import { headIs, mapRejected } from './group-appends.js'
import { DynamoGroupKeysLog } from './group-keys-log.js'
import { keys } from './keys.js'
import {
  fromGroup,
  isDeleted,
  reactionEntry,
  toEvent,
  toGroup,
  toMember,
  toMessageRef,
  toReactedMessage,
} from './mappers.js'
import { type RecipientIndex, shardAttribute } from './recipients.js'
import { type Item, isConditionFailure, isLive, notExists, PK, SK, type TransactItem, TTL } from './table.js'

/** A new group's recipient index: no shards, no membership change yet. */
const noRecipients: RecipientIndex = { at: 0, versions: new Map(), sizes: new Map() }

/** The group aggregate over the table: the group item, its memberships, its log, its roster and its claims, each
 * change one transaction that takes the log's next seq. No Scan anywhere, batches where a fan-out reads many items. */
export class DynamoGroupStore extends DynamoGroupKeysLog implements GroupStore {
  /**
   * The group item and every membership. A Query reads each item as committed when it reaches it, not the
   * group at one instant (and a large group's memberships take several pages): it can read a membership,
   * then the group item a leave has just moved past it, and so take the leaver for a member still (or a
   * joiner for one still invited). A read whose memberships do not account for every departure and every
   * join the group item counts is made again.
   */
  async readGroup(gid: string): Promise<GroupState | undefined> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.queryGroup(gid)
      const whole = state === undefined || (showsEveryDeparture(state) && showsEveryArrival(state))
      if (whole || attempt === tornReadAttempts) return state
    }
  }

  private async queryGroup(gid: string): Promise<GroupState | undefined> {
    // The memberships sort just before the group item (MEMBER#… < META), so one query reads both.
    const items = await this.table.query({
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :first AND :last',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: {
        ':pk': keys.group(gid)[PK],
        ':first': keys.memberPrefix,
        ':last': keys.group(gid)[SK],
      },
      ConsistentRead: true,
    })
    const meta = items.find((item) => item[SK] === keys.group(gid)[SK])
    if (meta === undefined || isDeleted(meta)) return undefined
    return { group: toGroup(meta), members: items.filter((item) => item !== meta).map(toMember) }
  }

  /** Read consistently: a sync takes each group's head as where its log ends. */
  async getGroups(gids: string[]): Promise<Group[]> {
    return (await this.table.batchGet(gids.map(keys.group))).filter((item) => !isDeleted(item)).map(toGroup)
  }

  async readMembers(gid: string, isses: string[]): Promise<GroupState | undefined> {
    const keyList = [keys.group(gid), ...isses.map((iss) => keys.member(gid, iss))]
    const items = await this.table.batchGet(keyList)
    const meta = items.find((item) => item[SK] === keys.group(gid)[SK])
    if (meta === undefined || isDeleted(meta)) return undefined
    return { group: toGroup(meta), members: items.filter((item) => item !== meta).map(toMember) }
  }

  /** The group and its joined members' connections, from the compact recipient shards (see DynamoRecipients). */
  readRecipients(gid: string): Promise<Recipients | undefined> {
    return this.connections.recipients.read(gid)
  }

  async createGroup(group: Group, members: Member[]): Promise<boolean> {
    const creator = members.find((m) => m.status === 'joined')
    const current = creator && (await this.connections.current(creator.iss))
    const placed = await this.placeJoined(group.gid, noRecipients, 0, members, creator, current)
    const outcome = await this.table.transact([
      // A deleted group's mark, once purged, gives its gid to a new group.
      {
        Put: {
          TableName: this.table.name,
          Item: fromGroup(group),
          ConditionExpression: `${notExists} OR purged = :yes`,
          ExpressionAttributeValues: { ':yes': true },
        },
      },
      ...members.map((m) => this.putMember(m, placed.shardOf.get(m.iss), notExists)),
      ...placed.items,
      ...(creator && current ? this.connections.joined(group.gid, creator.iss, current) : []),
    ])
    return outcome === undefined
  }

  async addMembers(gid: string, head: number, members: Member[]): Promise<Appended<never>> {
    // Members added joined (a benchmark's seeded group) go to the recipient shards as they are connected now.
    const seeded = members.some((m) => m.status === 'joined')
    const index = seeded ? await this.connections.recipients.index(gid) : noRecipients
    const placed = await this.placeJoined(gid, index, index.at, members)
    const outcome = await this.table.transact([
      {
        ConditionCheck: {
          TableName: this.table.name,
          Key: keys.group(gid),
          ...headIs(head),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      // A banned identity stays `left` with its ban, and may not be added back.
      ...members.map((m) =>
        this.putMember(
          m,
          placed.shardOf.get(m.iss),
          `${notExists} OR (#status = :left AND attribute_not_exists(bannedBy))`,
          { '#status': 'status' },
          { ':left': 'left' },
        ),
      ),
      ...placed.items,
    ])
    if (outcome === undefined) return 'appended'
    const [group, ...others] = outcome
    if (others.some((reason) => reason.Code === 'ConditionalCheckFailed')) return { rejected: undefined }
    return { moved: group?.Item && toGroup(group.Item) }
  }

  async appendMessage(message: MessageEvent, expiresAt: number): Promise<Appended<MessageRef>> {
    const marker = { ...keys.messageMarker(message.gid, message.jti), iss: message.iss, seq: message.seq }
    return this.append(message, expiresAt, {
      Put: {
        TableName: this.table.name,
        Item: { ...marker, [TTL]: expiresAt },
        ConditionExpression: notExists,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    }).then((outcome) => mapRejected(outcome, toMessageRef))
  }

  async appendMembership(
    event: JoinEvent | LeaveEvent | BanEvent,
    change: Partial<Member>,
    from: MemberStatus[],
    expiresAt: number,
    stale: number[] = [],
  ): Promise<Appended<never>> {
    const joining = event.type === 'chat.join'
    const { gid, iss, seq } = event
    const recipients = this.connections.recipients
    // A joiner goes to a recipient shard with the connections it has (on the condition that they have not
    // moved since); a joined member that departs leaves its shard.
    const [current, index, was] = await Promise.all([
      joining ? this.connections.current(iss) : undefined,
      joining ? recipients.index(gid) : undefined,
      joining ? undefined : recipients.shardsOf(iss, [gid]).then((shards) => shards.get(gid)),
    ])
    const placed = current && index && recipients.place(gid, index, seq, [{ iss, connections: current.ids }])
    const names: Record<string, string> = { '#status': 'status', '#count': joining ? 'joins' : 'leaves' }
    const values: Record<string, unknown> = { ':one': 1 }
    const sets = Object.entries(change).map(([name, value], i) => {
      names[`#c${i}`] = name
      values[`:c${i}`] = value
      return `#c${i} = :c${i}`
    })
    if (placed) {
      values[':shard'] = placed.shardOf.get(iss)
      sets.push(`${shardAttribute} = :shard`)
    }
    const allowed = from.map((status, i) => {
      values[`:from${i}`] = status
      return `:from${i}`
    })
    const outcome = await this.append(
      event,
      expiresAt,
      {
        Update: {
          TableName: this.table.name,
          Key: keys.member(gid, iss),
          UpdateExpression:
            `SET ${sets.join(', ')}${placed ? '' : ` REMOVE ${shardAttribute}`}` +
            // A join or leave is counted here as on the group item (see readGroup).
            ' ADD #count :one',
          ConditionExpression: `#status IN (${allowed.join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
      current && placed
        ? [...this.connections.joined(gid, iss, current), ...placed.items]
        : [
            ...this.connections.left(gid, iss),
            ...(was === undefined ? [recipients.unchanged(gid, seq)] : recipients.remove(gid, seq, iss, was)),
          ],
      { departs: !joining, arrives: joining, stale },
    )
    return mapRejected(outcome, () => undefined as never)
  }

  async appendRevision(
    event: EditEvent | DeleteEvent,
    target: number,
    expiresAt: number,
  ): Promise<Appended<StoredEvent>> {
    const edit = event.type === 'chat.edit'
    // The new body lives on the message alone, so that a later delete leaves no copy of it behind. An
    // encrypted group's edit keeps its own cipher (each opens only in its place in the order); the message
    // keeps the digest of the last one, so that the same edit sent again is told apart.
    const { body: _, ...logged } = event as EditEvent
    const cipher = edit ? event.cipher : undefined
    const revised = cipher === undefined ? 'body = :body' : 'editDigest = :digest'
    const unchanged =
      cipher === undefined ? 'body <> :body' : '(attribute_not_exists(editDigest) OR editDigest <> :digest)'
    const outcome = await this.append({ ...logged, type: event.type, target }, expiresAt, {
      Update: {
        TableName: this.table.name,
        Key: keys.event(event.gid, target),
        UpdateExpression: edit
          ? `SET ${revised}, edited = :at, revisedSeq = :seq`
          : 'SET deleted = :at, revisedSeq = :seq REMOVE body, cipher',
        ConditionExpression: `iss = :iss AND attribute_not_exists(deleted)${edit ? ` AND ${unchanged}` : ''}`,
        ExpressionAttributeValues: {
          ':iss': event.iss,
          ':at': event.iat,
          ':seq': event.seq,
          ...(edit && cipher === undefined && { ':body': event.body }),
          ...(cipher !== undefined && { ':digest': createHash('sha256').update(cipher).digest('base64') }),
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    })
    return mapRejected(outcome, toEvent)
  }

  async readReactions(gid: string, target: number): Promise<ReactedMessage | undefined> {
    const { Item } = await this.table.db.getItem({
      TableName: this.table.name,
      Key: keys.event(gid, target),
      ConsistentRead: true,
    })
    return Item && isLive(Item) ? toReactedMessage(Item) : undefined
  }

  async appendReaction(event: ReactionEvent, expiresAt: number): Promise<Appended<never>> {
    const message = { Key: keys.event(event.gid, event.target), TableName: this.table.name }
    const live = '#type = :message AND attribute_not_exists(deleted)'
    // A sealed reaction (an encrypted group's) changes nothing on its message, which must still be live.
    const change: TransactItem =
      event.cipher === undefined
        ? {
            // The message keeps its reactions as one set of "emoji, identity" entries: a reaction is one entry.
            Update: {
              ...message,
              UpdateExpression: `${event.remove ? 'DELETE' : 'ADD'} reactions :entry`,
              ConditionExpression: `${live} AND ${
                event.remove ? 'contains(reactions, :one)' : 'NOT contains(reactions, :one)'
              }`,
              ExpressionAttributeNames: { '#type': 'type' },
              ExpressionAttributeValues: {
                ':message': 'chat.message',
                ':entry': new Set([reactionEntry(event)]),
                ':one': reactionEntry(event),
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          }
        : {
            ConditionCheck: {
              ...message,
              ConditionExpression: live,
              ExpressionAttributeNames: { '#type': 'type' },
              ExpressionAttributeValues: { ':message': 'chat.message' },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          }
    const outcome = await this.append(event, expiresAt, change)
    return mapRejected(outcome, () => undefined as never)
  }

  async appendChange(event: AdminEvent, change: GroupChange, expiresAt: number): Promise<Appended<never>> {
    const { gid } = event
    let outcome: Appended<Item>
    if ('group' in change) {
      const { name, avatar, invites } = change.group
      const fields = {
        ...(name !== undefined && { name }),
        ...(avatar && { avatarKey: avatar.key, avatarMime: avatar.mime }),
        ...(invites !== undefined && { invites }),
        updatedSeq: event.seq,
      }
      outcome = await this.append(event, expiresAt, undefined, [], { fields })
    } else {
      outcome = await this.append(event, expiresAt, {
        Update: { TableName: this.table.name, ...memberChange(gid, change, event.seq) },
      })
    }
    return mapRejected(outcome, () => undefined as never)
  }

  async markDeleted(gid: string, head: number, deleted: { by: string; at: string }): Promise<boolean> {
    try {
      // Taking the next seq fails every write that read the group before.
      await this.table.db.updateItem({
        TableName: this.table.name,
        Key: keys.group(gid),
        UpdateExpression: 'SET #seq = :next, deleted = :yes, deletedBy = :by, deletedAt = :at',
        ...headIs(head, { ':next': head + 1, ':yes': true, ':by': deleted.by, ':at': deleted.at }),
      })
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }

  async saveReceipt(
    previous: Member,
    next: Pick<Member, 'delivered' | 'read' | 'movedAt'>,
  ): Promise<boolean> {
    const values: Record<string, unknown> = {
      ':joined': 'joined',
      ':delivered': next.delivered,
      ':read': next.read,
      ':movedAt': next.movedAt,
    }
    // Positions only move forward from what the caller read, so two devices' receipts cannot undo each other.
    const unchanged = (['delivered', 'read'] as const).map((name) => {
      const was = previous[name]
      if (was === undefined) return `attribute_not_exists(#${name})`
      values[`:was_${name}`] = was
      return `#${name} = :was_${name}`
    })
    try {
      await this.table.db.updateItem({
        TableName: this.table.name,
        Key: keys.member(previous.gid, previous.iss),
        UpdateExpression: 'SET #delivered = :delivered, #read = :read, movedAt = :movedAt',
        ConditionExpression: ['#status = :joined', ...unchanged].join(' AND '),
        ExpressionAttributeNames: { '#status': 'status', '#delivered': 'delivered', '#read': 'read' },
        ExpressionAttributeValues: values,
      })
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }
}

/** The member update an admin's change makes, on the condition that the member is as the change expects. */
function memberChange(gid: string, change: Exclude<GroupChange, { group: unknown }>, seq: number) {
  const names = { '#status': 'status', '#role': 'role' }
  if ('role' in change) {
    return {
      Key: keys.member(gid, change.role.iss),
      UpdateExpression: 'SET #role = :role, roleSeq = :seq',
      ConditionExpression: '#status = :joined',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ':role': change.role.role, ':joined': 'joined', ':seq': seq },
    }
  }
  if ('unban' in change) {
    return {
      Key: keys.member(gid, change.unban),
      UpdateExpression: 'SET unbannedSeq = :seq REMOVE bannedBy, bannedSeq',
      ConditionExpression: '#status = :left AND attribute_exists(bannedBy)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':left': 'left', ':seq': seq },
    }
  }
  // One that was never a member gets a record of its own, with no window and no index entry.
  const { iss, by, at, head } = change.ban
  return {
    Key: keys.member(gid, iss),
    UpdateExpression:
      'SET gid = :gid, iss = :iss, bannedBy = :by, bannedSeq = :seq, #status = if_not_exists(#status, :left), ' +
      '#role = if_not_exists(#role, :member), invitedBy = if_not_exists(invitedBy, :by), ' +
      'invitedAt = if_not_exists(invitedAt, :at), since = if_not_exists(since, :head)',
    ConditionExpression: `${notExists} OR #status = :left`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: {
      ':gid': gid,
      ':iss': iss,
      ':by': by,
      ':left': 'left',
      ':member': 'member',
      ':at': at,
      ':head': head,
      ':seq': seq,
    },
  }
}

/** Reads of a group made before its latest join or departure is seen whole (see readGroup). */
const tornReadAttempts = 5

/**
 * Whether the memberships read account for every departure the group item counts. A group whose leaves
 * all came before the count began shows its last one (`departedSeq`) instead: the membership that left
 * reads as left, or, invited again, keeps it as its past window.
 */
export function showsEveryDeparture({ group, members }: GroupState): boolean {
  if (group.departures !== undefined) {
    return members.reduce((sum, m) => sum + (m.leaves ?? 0), 0) === group.departures
  }
  const seq = group.departedSeq
  return seq === 0 || members.some((m) => m.leaveSeq === seq || m.previous?.through === seq)
}

/** Whether the memberships read account for every join the group item counts (all, before the count began). */
export function showsEveryArrival({ group, members }: GroupState): boolean {
  return (
    group.arrivals === undefined || members.reduce((sum, m) => sum + (m.joins ?? 0), 0) === group.arrivals
  )
}
