import { createHash } from 'node:crypto'
import { type AttributeValue, TransactionCanceledException } from '@aws-sdk/client-dynamodb'
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb'
import { unmarshall } from '@aws-sdk/util-dynamodb'
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
  RevertEvent,
} from '@huddle/client/protocol'
import { forEachLimited } from '../core/concurrency.js'
import type {
  AdminEvent,
  Appended,
  Block,
  ChatStore,
  Connection,
  Group,
  GroupChange,
  GroupState,
  KeyPackageRef,
  Member,
  MemberStatus,
  MessageRef,
  RateLimit,
  Roster,
  StoredEvent,
  Window,
} from '../core/ports.js'
import { ConnectionDirectory, type Item, type TransactItem } from './connection-directory.js'
import { keys } from './keys.js'
import { tableSchema } from './table-schema.js'
import { TokenBuckets } from './token-buckets.js'

const batchGetLimit = 100
/** How long a deleted group's mark stays after its purge, and its members' notices of the deletion. */
const markSeconds = 24 * 60 * 60
const noticeSeconds = 30 * 24 * 60 * 60
const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = tableSchema
const notExists = `attribute_not_exists(${PK})`

/** ChatStore over one DynamoDB table: no Scan anywhere, batches where a fan-out reads many items. */
export class DynamoChatStore implements ChatStore {
  private readonly directory: ConnectionDirectory
  private readonly buckets: TokenBuckets

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.directory = new ConnectionDirectory(
      db,
      tableName,
      (keyList, projection) => this.batchGet(keyList, projection),
      async (iss) => (await this.membershipsOf(iss)).filter((m) => m.status === 'joined').map((m) => m.gid),
    )
    this.buckets = new TokenBuckets(db, tableName)
  }

  /**
   * The group item and every membership. A Query reads each item as committed when it reaches it, not the
   * group at one instant (and a large group's memberships take several pages): it can read a membership,
   * then the group item a leave has just moved past it, and so take the leaver for a member still. A read
   * whose memberships do not account for every departure the group item counts is made again, strongly
   * consistent.
   */
  async readGroup(gid: string, consistent = true): Promise<GroupState | undefined> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.queryGroup(gid, consistent || attempt > 1)
      if (state === undefined || showsEveryDeparture(state) || attempt === tornReadAttempts) return state
    }
  }

  private async queryGroup(gid: string, consistent: boolean): Promise<GroupState | undefined> {
    // The memberships sort just before the group item (MEMBER#… < META), so one query reads both.
    const items = await this.query({
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :first AND :last',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: {
        ':pk': keys.group(gid)[PK],
        ':first': keys.memberPrefix,
        ':last': keys.group(gid)[SK],
      },
      ConsistentRead: consistent,
    })
    const meta = items.find((item) => item[SK] === keys.group(gid)[SK])
    if (meta === undefined || isDeleted(meta)) return undefined
    return { group: toGroup(meta), members: items.filter((item) => item !== meta).map(toMember) }
  }

  async getGroups(gids: string[]): Promise<Group[]> {
    return (await this.batchGet(gids.map(keys.group))).filter((item) => !isDeleted(item)).map(toGroup)
  }

  async readMembers(gid: string, isses: string[]): Promise<GroupState | undefined> {
    const keyList = [keys.group(gid), ...isses.map((iss) => keys.member(gid, iss))]
    const items = await this.batchGet(keyList, undefined, true)
    const meta = items.find((item) => item[SK] === keys.group(gid)[SK])
    if (meta === undefined || isDeleted(meta)) return undefined
    return { group: toGroup(meta), members: items.filter((item) => item !== meta).map(toMember) }
  }

  async createGroup(group: Group, members: Member[]): Promise<boolean> {
    const creator = members.find((m) => m.status === 'joined')
    const current = creator && (await this.directory.current(creator.iss))
    const outcome = await this.transact([
      // A deleted group's mark, once purged, gives its gid to a new group.
      {
        Put: {
          TableName: this.tableName,
          Item: fromGroup(group),
          ConditionExpression: `${notExists} OR purged = :yes`,
          ExpressionAttributeValues: { ':yes': true },
        },
      },
      ...members.map((m) =>
        this.putMember(m === creator ? { ...m, conns: current?.ids ?? [] } : m, notExists),
      ),
      ...(creator && current ? this.directory.joined(group.gid, creator.iss, current) : []),
    ])
    return outcome === undefined
  }

  async addMembers(gid: string, head: number, members: Member[]): Promise<Appended<never>> {
    const outcome = await this.transact([
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: keys.group(gid),
          ...headIs(head),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      // A banned identity stays `left` with its ban, and may not be added back.
      ...members.map((m) =>
        this.putMember(
          m,
          `${notExists} OR (#status = :left AND attribute_not_exists(bannedBy))`,
          { '#status': 'status' },
          { ':left': 'left' },
        ),
      ),
    ])
    if (outcome === undefined) return 'appended'
    const [group, ...others] = outcome
    if (others.some((reason) => reason.Code === 'ConditionalCheckFailed')) return { rejected: undefined }
    return { moved: group?.Item && toGroup(unmarshall(group.Item as Record<string, AttributeValue>)) }
  }

  async appendMessage(message: MessageEvent, expiresAt: number): Promise<Appended<MessageRef>> {
    const marker = { ...keys.messageMarker(message.gid, message.jti), iss: message.iss, seq: message.seq }
    return this.append(message, expiresAt, {
      Put: {
        TableName: this.tableName,
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
    // A joined membership keeps a copy of its identity's connections (see ConnectionDirectory).
    const current = joining ? await this.directory.current(event.iss) : undefined
    const names: Record<string, string> = {
      '#status': 'status',
      '#conns': 'conns',
      ...(!joining && { '#leaves': 'leaves' }),
    }
    const values: Record<string, unknown> = joining ? {} : { ':one': 1 }
    const sets = Object.entries(change).map(([name, value], i) => {
      names[`#c${i}`] = name
      values[`:c${i}`] = value
      return `#c${i} = :c${i}`
    })
    if (current?.ids.length) {
      values[':conns'] = new Set(current.ids)
      sets.push('#conns = :conns')
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
          TableName: this.tableName,
          Key: keys.member(event.gid, event.iss),
          UpdateExpression:
            `SET ${sets.join(', ')}${current?.ids.length ? '' : ' REMOVE #conns'}` +
            // A leave is counted here as on the group item (see readGroup).
            (joining ? '' : ' ADD #leaves :one'),
          ConditionExpression: `#status IN (${allowed.join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
      current
        ? this.directory.joined(event.gid, event.iss, current)
        : this.directory.left(event.gid, event.iss),
      { departs: !joining, stale },
    )
    return mapRejected(outcome, () => undefined as never)
  }

  async readRoster(gid: string): Promise<Roster | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.roster(gid), ConsistentRead: true }),
    )
    if (Item === undefined) return undefined
    const { [PK]: _pk, [SK]: _sk, ...roster } = Item
    return { ...roster, epoch: Number(Item.epoch), leaves: (Item.leaves ?? []) as Roster['leaves'] } as Roster
  }

  async appendCommit(
    event: CommitEvent,
    roster: Roster,
    cleared: number[],
    expiresAt: number,
    claims: string[],
  ): Promise<Appended<never>> {
    const put: TransactItem = {
      Put: { TableName: this.tableName, Item: { ...keys.roster(event.gid), ...roster } },
    }
    // Each key package it adds was handed to its committer for this group, and is used once.
    const used = claims.map(
      (ref): TransactItem => ({
        Delete: {
          TableName: this.tableName,
          Key: keys.claim(event.gid, ref),
          ConditionExpression: 'attribute_exists(#pk) AND #by = :by',
          ExpressionAttributeNames: { '#pk': PK, '#by': 'by' },
          ExpressionAttributeValues: { ':by': event.iss },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      }),
    )
    const outcome = await this.append(event, expiresAt, put, used, {
      fields: { epoch: roster.epoch },
      cleared,
      alongsideRejects: true,
    })
    return mapRejected(outcome, () => undefined as never)
  }

  async appendRevert(
    event: RevertEvent,
    roster: Roster,
    stale: number[],
    was: number[],
    expiresAt: number,
  ): Promise<Appended<never>> {
    const put: TransactItem = {
      Put: { TableName: this.tableName, Item: { ...keys.roster(event.gid), ...roster } },
    }
    // A set cannot be empty: the stale leaves are set, or the ones there were taken out.
    const outcome = await this.append(event, expiresAt, put, [], {
      fields: { epoch: roster.epoch, ...(stale.length > 0 && { stale: new Set(stale) }) },
      cleared: stale.length > 0 ? [] : was,
    })
    return mapRejected(outcome, () => undefined as never)
  }

  async recordClaims(gid: string, claimant: string, refs: string[], expiresAt: number): Promise<void> {
    await Promise.all(
      refs.map((ref) =>
        this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...keys.claim(gid, ref), by: claimant, [TTL]: expiresAt },
          }),
        ),
      ),
    )
  }

  async deviceLists(iss: string): Promise<DeviceList[]> {
    const items = await this.query({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':prefix': keys.deviceListPrefix },
      ConsistentRead: true,
    })
    return items.map((item) => item.list as DeviceList)
  }

  async addDeviceList(list: DeviceList): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keys.deviceList(list.iss, list.version), list },
          ConditionExpression: notExists,
        }),
      )
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }

  async keyPackageRefs(iss: string, at: Date, device?: string): Promise<KeyPackageRef[]> {
    const items = await this.query({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK, '#ttl': TTL, '#key': 'key' },
      ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':prefix': keys.keyPackagesOf(device) },
      ProjectionExpression: '#sk, #ttl, #key',
      ConsistentRead: true,
    })
    // DynamoDB deletes expired items lazily.
    const now = at.getTime() / 1000
    return items.flatMap((item) => {
      if (Number(item[TTL]) <= now) return []
      const [device, ref] = String(item[SK]).slice(keys.keyPackagesOf().length).split('#')
      return device && ref ? [{ device, ref, key: String(item.key) }] : []
    })
  }

  async addKeyPackages(
    iss: string,
    device: string,
    key: string,
    packages: { ref: string; keyPackage: string; expiresAt: number }[],
  ): Promise<void> {
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: packages.map(({ ref, keyPackage, expiresAt }) => ({
          Put: {
            TableName: this.tableName,
            Item: { ...keys.keyPackage(iss, device, ref), keyPackage, key, [TTL]: expiresAt },
          },
        })),
      }),
    )
  }

  async takeKeyPackage(iss: string, { device, ref }: KeyPackageRef, at: Date): Promise<string | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.keyPackage(iss, device, ref),
          ConditionExpression: 'attribute_exists(#pk) AND #ttl > :now',
          ExpressionAttributeNames: { '#pk': PK, '#ttl': TTL },
          ExpressionAttributeValues: { ':now': Math.floor(at.getTime() / 1000) },
          ReturnValues: 'ALL_OLD',
        }),
      )
      return typeof Attributes?.keyPackage === 'string' ? Attributes.keyPackage : undefined
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
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
        Update: { TableName: this.tableName, ...memberChange(gid, change, event.seq) },
      })
    }
    return mapRejected(outcome, () => undefined as never)
  }

  async markDeleted(gid: string, head: number, deleted: { by: string; at: string }): Promise<boolean> {
    try {
      // Taking the next seq fails every write that read the group before.
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.group(gid),
          UpdateExpression: 'SET #seq = :next, deleted = :yes, deletedBy = :by, deletedAt = :at',
          ...headIs(head, { ':next': head + 1, ':yes': true, ':by': deleted.by, ':at': deleted.at }),
        }),
      )
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }

  async purgeGroup(gid: string): Promise<{ deletedBy: string; objects: string[] } | undefined> {
    const meta = keys.group(gid)
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: meta, ConsistentRead: true }),
    )
    if (Item === undefined || !isDeleted(Item)) return undefined
    const deletedBy = String(Item.deletedBy)
    if (Item.purged === true) return { deletedBy, objects: [] }
    const items = await this.query({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: {
        '#pk': PK,
        '#sk': SK,
        '#status': 'status',
        '#commit': 'commit',
        '#welcome': 'welcome',
        '#info': 'info',
      },
      ExpressionAttributeValues: { ':pk': meta[PK] },
      ProjectionExpression:
        '#pk, #sk, iss, #status, avatarKey, avatar, attachments, #commit, #welcome, #info',
    })
    // The group's avatar, every earlier one its updates name, its messages' files and its commits' parts
    // (the roster's info is its last commit's).
    const objects = items.flatMap((item) => {
      const files = (item.attachments as { key?: unknown }[] | undefined) ?? []
      const named = [item.avatar, item.commit, item.welcome, item.info] as ({ key?: unknown } | undefined)[]
      const keys = [item.avatarKey, ...named.map((object) => object?.key), ...files.map((f) => f.key)]
      return keys.filter((key) => typeof key === 'string')
    })
    const joined = items.filter((item) => item.status === 'joined').map((item) => String(item.iss))
    await forEachLimited(joined, 8, async (iss) => {
      await this.db.send(new UpdateCommand(this.directory.leftUpdate(gid, iss)))
    })
    // Members away when it was deleted learn of it from their next sync.
    const present = items.filter((item) => item.status === 'joined' || item.status === 'invited')
    const expires = Math.ceil(Date.now() / 1000) + noticeSeconds
    const notice = { gid, iss: deletedBy, iat: String(Item.deletedAt), [TTL]: expires }
    await forEachLimited(present, 16, async (item) => {
      const record = { ...keys.deletedGroup(String(item.iss), gid), ...notice }
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: record }))
    })
    // One DeleteItem each, many at once: the same write units as a batch, and no grant beyond readWrite.
    const rest = items.filter((item) => item[SK] !== meta[SK])
    await forEachLimited(rest, 16, async (item) => {
      const Key = { [PK]: item[PK], [SK]: item[SK] }
      await this.db.send(new DeleteCommand({ TableName: this.tableName, Key }))
    })
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: meta,
        UpdateExpression: 'SET purged = :yes, #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TTL },
        ExpressionAttributeValues: { ':yes': true, ':ttl': Math.ceil(Date.now() / 1000) + markSeconds },
      }),
    )
    return { deletedBy, objects: [...new Set(objects)] }
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
        TableName: this.tableName,
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

  async deletedGroupsOf(iss: string, limit: number): Promise<GroupDeletedEvent[]> {
    const { Items = [] } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :gone)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':gone': keys.deletedGroupPrefix },
        Limit: limit,
      }),
    )
    return Items.map((item) => ({
      type: 'chat.deleted',
      gid: String(item.gid),
      iss: String(item.iss),
      iat: String(item.iat),
    }))
  }

  async findMessage(gid: string, jti: string): Promise<MessageRef | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.messageMarker(gid, jti), ConsistentRead: true }),
    )
    return Item && toMessageRef(Item)
  }

  async readEvents(
    gid: string,
    range: { after: number; through: number; limit: number; newestFirst: boolean },
  ): Promise<StoredEvent[]> {
    if (range.through <= range.after) return []
    const { Items = [] } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        ...this.eventRange(gid, range),
        ScanIndexForward: !range.newestFirst,
        Limit: range.limit,
        ConsistentRead: true,
      }),
    )
    return Items.map(toEvent)
  }

  async getEvents(gid: string, seqs: number[]): Promise<StoredEvent[]> {
    const keyList = seqs.map((seq) => keys.event(gid, seq))
    return (await this.batchGet(keyList, undefined, true)).map(toEvent)
  }

  async messageSenders(
    gid: string,
    range: { after: number; through: number },
    except: string,
    limit: number,
  ): Promise<string[]> {
    if (range.through <= range.after) return []
    const senders: string[] = []
    const input = this.eventRange(gid, range)
    const pages = paginateQuery(
      { client: this.db },
      {
        ...input,
        TableName: this.tableName,
        ScanIndexForward: false,
        FilterExpression: '#type = :message AND iss <> :except AND attribute_not_exists(deleted)',
        ProjectionExpression: 'iss',
        ExpressionAttributeNames: { ...input.ExpressionAttributeNames, '#type': 'type' },
        ExpressionAttributeValues: {
          ...input.ExpressionAttributeValues,
          ':message': 'chat.message',
          ':except': except,
        },
      },
    )
    for await (const page of pages) {
      for (const item of page.Items ?? []) senders.push(String(item.iss))
      if (senders.length >= limit) break
    }
    return senders.slice(0, limit)
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
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.member(previous.gid, previous.iss),
          UpdateExpression: 'SET #delivered = :delivered, #read = :read, movedAt = :movedAt',
          ConditionExpression: ['#status = :joined', ...unchanged].join(' AND '),
          ExpressionAttributeNames: { '#status': 'status', '#delivered': 'delivered', '#read': 'read' },
          ExpressionAttributeValues: values,
        }),
      )
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }

  async pendingInvites(iss: string, atMost: number): Promise<number> {
    const { indexName, partitionKey } = tableSchema.userIndex
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        IndexName: indexName,
        KeyConditionExpression: '#pk = :pk',
        FilterExpression: '#status = :invited',
        ExpressionAttributeNames: { '#pk': partitionKey, '#status': 'status' },
        ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':invited': 'invited' },
        Select: 'COUNT',
      },
    )
    let count = 0
    for await (const page of pages) {
      count += page.Count ?? 0
      if (count >= atMost) break
    }
    return Math.min(count, atMost)
  }

  async setBlock({ blocker, iss }: Block, blocked: boolean): Promise<void> {
    const Key = keys.block(blocker, iss)
    if (blocked) await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...Key, iss } }))
    else await this.db.send(new DeleteCommand({ TableName: this.tableName, Key }))
  }

  async findBlocks(pairs: Block[]): Promise<Block[]> {
    if (pairs.length === 0) return []
    const found = await this.batchGet(pairs.map(({ blocker, iss }) => keys.block(blocker, iss)))
    const existing = new Set(found.map((item) => `${item[PK]}\n${item[SK]}`))
    return pairs.filter(({ blocker, iss }) => {
      const key = keys.block(blocker, iss)
      return existing.has(`${key[PK]}\n${key[SK]}`)
    })
  }

  async blocksOf(blocker: string, page: { after?: string; limit: number }): Promise<string[]> {
    const { [PK]: pk } = keys.block(blocker, '')
    const { Items = [] } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :after AND :last',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: {
          ':pk': pk,
          // Past `after` itself: its key with one more character; BLOCK#\uffff sorts after every block.
          ':after': `${keys.blockPrefix}${page.after === undefined ? '' : `${page.after}\u0000`}`,
          ':last': `${keys.blockPrefix}\uffff`,
        },
        Limit: page.limit,
      }),
    )
    return Items.map((item) => String(item.iss))
  }

  async membershipsOf(iss: string, page?: { after?: string; limit: number }): Promise<Member[]> {
    const { indexName, partitionKey, sortKey } = tableSchema.userIndex
    const input: Omit<QueryCommandInput, 'TableName'> = {
      IndexName: indexName,
      KeyConditionExpression: page?.after === undefined ? '#pk = :pk' : '#pk = :pk AND #sk > :after',
      ExpressionAttributeNames: { '#pk': partitionKey, ...(page?.after !== undefined && { '#sk': sortKey }) },
      ExpressionAttributeValues: {
        ':pk': keys.userMemberships(iss),
        ...(page?.after !== undefined && { ':after': keys.userMembershipOf(page.after) }),
      },
    }
    if (page === undefined) return (await this.query(input)).map(toMember)
    const { Items = [] } = await this.db.send(
      new QueryCommand({ TableName: this.tableName, ...input, Limit: page.limit }),
    )
    return Items.map(toMember)
  }

  async spend(
    iss: string,
    action: string,
    limit: number,
    windowSeconds: number,
    at: Date,
  ): Promise<number | undefined> {
    const now = Math.floor(at.getTime() / 1000)
    const windowStart = now - (now % windowSeconds)
    const windowEnd = windowStart + windowSeconds
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.rateWindow(iss, action, windowStart),
          UpdateExpression: 'ADD #count :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': TTL },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': windowEnd },
        }),
      )
      return undefined
    } catch (error) {
      if (isConditionFailure(error)) return windowEnd - now
      throw error
    }
  }

  takeToken(iss: string, bucket: string, limit: RateLimit, at: Date): Promise<number | undefined> {
    return this.buckets.take(iss, bucket, limit, at)
  }

  async claimSlice(
    id: string,
    owner: string,
    now: number,
    leaseUntil: number,
    expiresAt: number,
  ): Promise<number | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.fanOutSlice(id),
          UpdateExpression:
            'SET #owner = :owner, #lease = :lease, #posted = if_not_exists(#posted, :none), #ttl = :ttl',
          ConditionExpression:
            'attribute_not_exists(#done) AND (attribute_not_exists(#lease) OR #lease < :now)',
          ExpressionAttributeNames: {
            '#owner': 'owner',
            '#lease': 'leaseUntil',
            '#posted': 'posted',
            '#done': 'done',
            '#ttl': TTL,
          },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':lease': leaseUntil,
            ':none': 0,
            ':now': now,
            ':ttl': expiresAt,
          },
          ReturnValues: 'ALL_NEW',
        }),
      )
      return Attributes?.posted as number
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
  }

  async recordSlice(id: string, owner: string, posted: number, done: boolean): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.fanOutSlice(id),
        UpdateExpression: `SET #posted = :posted, #lease = :ended${done ? ', #done = :done' : ''}`,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: {
          '#posted': 'posted',
          '#lease': 'leaseUntil',
          '#owner': 'owner',
          ...(done && { '#done': 'done' }),
        },
        ExpressionAttributeValues: {
          ':posted': posted,
          ':ended': 0,
          ':owner': owner,
          ...(done && { ':done': true }),
        },
      }),
    )
  }

  saveConnection(connection: Connection): Promise<void> {
    return this.directory.save(connection)
  }

  deleteConnection(connectionId: string, iss?: string): Promise<void> {
    return this.directory.delete(connectionId, iss)
  }

  connectionsOf(isses: string[]): Promise<Map<string, string[]>> {
    return this.directory.connectionsOf(isses)
  }

  /**
   * One transaction that takes seq head + 1 for `event` (the group's head must still be the seq before
   * it), stores the event and applies `change`. Which condition failed tells the outcome.
   */
  private async append(
    event: StoredEvent,
    expiresAt: number,
    change: TransactItem | undefined,
    alongside: TransactItem[] = [],
    {
      departs = false,
      fields = {},
      stale = [],
      cleared = [],
      alongsideRejects = false,
    }: {
      departs?: boolean
      fields?: Item
      stale?: number[]
      cleared?: number[]
      alongsideRejects?: boolean
    } = {},
  ): Promise<Appended<Item>> {
    const names: Record<string, string> = {}
    const values: Record<string, unknown> = { ':next': event.seq, ...(departs && { ':one': 1 }) }
    const sets = Object.entries(fields).map(([name, value], i) => {
      names[`#f${i}`] = name
      values[`:f${i}`] = value
      return `#f${i} = :f${i}`
    })
    const adds: string[] = []
    if (departs) {
      sets.push('departedSeq = :next')
      adds.push('departures :one')
    }
    // An encrypted group's stale leaves: a set, which an empty one cannot be.
    if (stale.length > 0) {
      adds.push('stale :stale')
      values[':stale'] = new Set(stale)
    }
    if (cleared.length > 0) values[':cleared'] = new Set(cleared)
    const head = headIs(event.seq - 1, values)
    const outcome = await this.transact([
      {
        Update: {
          TableName: this.tableName,
          Key: keys.group(event.gid),
          UpdateExpression:
            ['SET #seq = :next', ...sets].join(', ') +
            (adds.length > 0 ? ` ADD ${adds.join(', ')}` : '') +
            (cleared.length > 0 ? ' DELETE stale :cleared' : ''),
          ...head,
          ExpressionAttributeNames: { ...head.ExpressionAttributeNames, ...names },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.event(event.gid, event.seq), ...event, [TTL]: expiresAt },
          ConditionExpression: notExists,
        },
      },
      ...(change ? [change] : []),
      ...alongside,
    ])
    if (outcome === undefined) return 'appended'
    const [group, , ...changed] = outcome.map((reason) => ({
      failed: reason.Code === 'ConditionalCheckFailed',
      item: reason.Item && unmarshall(reason.Item as Record<string, AttributeValue>),
    }))
    // The change's own condition, or (when they are part of the decision) the conditions beside it.
    const rejected = (alongsideRejects ? changed : changed.slice(0, 1)).find((reason) => reason.failed)
    if (rejected) return { rejected: rejected.item }
    return { moved: group?.item && toGroup(group.item) }
  }

  private putMember(
    member: Member,
    condition: string,
    names?: Record<string, string>,
    values?: Record<string, unknown>,
  ): TransactItem {
    const { conns, ...rest } = member
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.member(member.gid, member.iss),
          ...keys.memberOfUser(member.gid, member.iss),
          ...rest,
          // A set in the table; an empty one cannot be stored.
          ...(conns?.length && { conns: new Set(conns) }),
        },
        ConditionExpression: condition,
        ...(names && { ExpressionAttributeNames: names }),
        ...(values && { ExpressionAttributeValues: values }),
      },
    }
  }

  /** Runs a transaction; undefined when it committed, else why each item was cancelled. */
  private async transact(items: TransactItem[]): Promise<CancellationReason[] | undefined> {
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }))
      return undefined
    } catch (error) {
      const reasons = error instanceof TransactionCanceledException ? error.CancellationReasons : undefined
      if (!reasons?.some((reason) => reason.Code === 'ConditionalCheckFailed')) throw error
      return reasons
    }
  }

  private eventRange(gid: string, range: { after: number; through: number }) {
    return {
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :first AND :last',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: {
        ':pk': keys.group(gid)[PK],
        ':first': keys.eventSortKey(range.after + 1),
        ':last': keys.eventSortKey(range.through),
      },
    }
  }

  private async query(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = []
    for await (const page of paginateQuery({ client: this.db }, { ...input, TableName: this.tableName })) {
      items.push(...(page.Items ?? []))
    }
    return items
  }

  /** BatchGet in chunks of 100, retrying whatever DynamoDB leaves unprocessed. */
  private async batchGet(keyList: Item[], projection?: string, consistent = false): Promise<Item[]> {
    const chunks: Item[][] = []
    for (let i = 0; i < keyList.length; i += batchGetLimit) chunks.push(keyList.slice(i, i + batchGetLimit))
    const results = await Promise.all(
      chunks.map(async (chunk) => {
        const items: Item[] = []
        let pending: Item[] = chunk
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0)
            await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)))
          const { Responses, UnprocessedKeys } = await this.db.send(
            new BatchGetCommand({
              RequestItems: {
                [this.tableName]: {
                  Keys: pending,
                  ...(projection && { ProjectionExpression: projection }),
                  ...(consistent && { ConsistentRead: true }),
                },
              },
            }),
          )
          items.push(...(Responses?.[this.tableName] ?? []))
          pending = UnprocessedKeys?.[this.tableName]?.Keys ?? []
          if (attempt > 8 && pending.length > 0)
            throw new Error('DynamoDB left keys unprocessed after retries')
        }
        return items
      }),
    )
    return results.flat()
  }
}

type CancellationReason = NonNullable<TransactionCanceledException['CancellationReasons']>[number]

/** The condition that the group's head is still `head` (a group from before seqs has none: 0). */
function headIs(head: number, values: Record<string, unknown> = {}) {
  return {
    ConditionExpression: head === 0 ? 'attribute_not_exists(#seq) OR #seq = :head' : '#seq = :head',
    ExpressionAttributeNames: { '#seq': 'seq' },
    ExpressionAttributeValues: { ':head': head, ...values },
  }
}

function mapRejected<T>(outcome: Appended<Item>, convert: (item: Item) => T): Appended<T> {
  if (outcome === 'appended' || 'moved' in outcome) return outcome
  return { rejected: outcome.rejected && convert(outcome.rejected) }
}

function fromGroup(group: Group): Item {
  const { avatar, head, ...rest } = group
  return {
    ...keys.group(group.gid),
    ...rest,
    seq: head,
    ...(avatar && { avatarKey: avatar.key, avatarMime: avatar.mime }),
  }
}

/** A group marked deleted reads as absent until its purge removes it. */
function isDeleted(item: Item): boolean {
  return item.deleted === true
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

function toGroup(item: Item): Group {
  const group: Group = {
    gid: String(item.gid),
    name: String(item.name),
    createdBy: String(item.createdBy),
    createdAt: String(item.createdAt),
    head: typeof item.seq === 'number' ? item.seq : 0,
    departedSeq: typeof item.departedSeq === 'number' ? item.departedSeq : 0,
  }
  if (typeof item.departures === 'number') group.departures = item.departures
  if (item.invites === 'admins' || item.invites === 'members') group.invites = item.invites
  if (typeof item.updatedSeq === 'number') group.updatedSeq = item.updatedSeq
  if (typeof item.avatarKey === 'string')
    group.avatar = { key: item.avatarKey, mime: String(item.avatarMime) }
  if (item.encrypted === true) {
    group.encrypted = true
    group.epoch = typeof item.epoch === 'number' ? item.epoch : 0
    if (item.stale instanceof Set && item.stale.size > 0) group.stale = [...item.stale].map(Number)
  }
  return group
}

const memberNumbers = [
  'since',
  'joinSeq',
  'leaveSeq',
  'leaves',
  'delivered',
  'read',
  'movedAt',
  'roleSeq',
  'bannedSeq',
  'unbannedSeq',
] as const

function toMember(item: Item): Member {
  const member: Member = {
    gid: String(item.gid),
    iss: String(item.iss),
    status: item.status === 'joined' || item.status === 'left' ? item.status : 'invited',
    role: item.role === 'admin' ? 'admin' : 'member',
    invitedBy: String(item.invitedBy),
    invitedAt: String(item.invitedAt),
    since: 0,
  }
  if (typeof item.joinedAt === 'string') member.joinedAt = item.joinedAt
  if (typeof item.bannedBy === 'string') member.bannedBy = item.bannedBy
  for (const name of memberNumbers) if (typeof item[name] === 'number') member[name] = item[name]
  if (item.conns instanceof Set) member.conns = [...item.conns].map(String)
  const previous = item.previous as Partial<Window> | undefined
  if (typeof previous?.after === 'number' && typeof previous.through === 'number') {
    member.previous = { after: previous.after, through: previous.through }
  }
  return member
}

function toMessageRef(item: Item): MessageRef {
  return { iss: String(item.iss), seq: Number(item.seq) }
}

/** The stored event without its keys, ttl and a message's digest of its last cipher edit. */
function toEvent(item: Item): StoredEvent {
  const { [PK]: _pk, [SK]: _sk, [TTL]: _ttl, editDigest: _digest, ...event } = item
  return event as unknown as StoredEvent
}

/** Reads of a group made before its latest departure is seen whole (see readGroup). */
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

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException'
}
