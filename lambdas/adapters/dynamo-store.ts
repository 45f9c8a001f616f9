import { TransactionCanceledException } from '@aws-sdk/client-dynamodb'
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb'
import { ChatError } from '../core/errors.js'
import type { ChatStore, Connection, Group, Member, MemberStatus, StoredMessage } from '../core/ports.js'
import { keys } from './keys.js'
import { tableSchema } from './table-schema.js'

type Item = Record<string, unknown>

const batchGetLimit = 100
const notExists = `attribute_not_exists(${tableSchema.partitionKey})`
const exists = `attribute_exists(${tableSchema.partitionKey})`

/** ChatStore over one DynamoDB table: no Scan anywhere, batches where a fan-out reads many items. */
export class DynamoChatStore implements ChatStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getGroup(gid: string): Promise<Group | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.group(gid), ConsistentRead: true }),
    )
    return Item && toGroup(Item)
  }

  async getGroups(gids: string[]): Promise<Group[]> {
    return (await this.batchGet(gids.map(keys.group))).map(toGroup)
  }

  async listMembers(gid: string): Promise<Member[]> {
    return (
      await this.query({
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': tableSchema.partitionKey, '#sk': tableSchema.sortKey },
        ExpressionAttributeValues: {
          ':pk': keys.group(gid)[tableSchema.partitionKey],
          ':prefix': keys.memberPrefix,
        },
        ConsistentRead: true,
      })
    ).map(toMember)
  }

  async createGroup(group: Group, members: Member[]): Promise<void> {
    await this.transact(
      [
        { Put: { TableName: this.tableName, Item: fromGroup(group), ConditionExpression: notExists } },
        ...members.map((m) => this.putNewMember(m)),
      ],
      `group ${group.gid} was created meanwhile; retry`,
    )
  }

  async addMembers(members: Member[]): Promise<void> {
    await this.transact(
      members.map((m) => this.putNewMember(m)),
      'the membership changed meanwhile; retry',
    )
  }

  async markJoined(gid: string, iss: string, joinedAt: string): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.member(gid, iss),
        UpdateExpression: 'SET #status = :joined, joinedAt = :at',
        ConditionExpression: exists,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':joined': 'joined', ':at': joinedAt },
      }),
      `you are no longer a member of ${gid}`,
    )
  }

  async removeMember(gid: string, iss: string): Promise<void> {
    await this.conditional(
      new DeleteCommand({
        TableName: this.tableName,
        Key: keys.member(gid, iss),
        ConditionExpression: exists,
      }),
      `you are no longer a member of ${gid}`,
    )
  }

  async saveMessage(message: StoredMessage): Promise<{ iat: string; duplicate: boolean }> {
    const marker = keys.messageMarker(message.gid, message.iss, message.jti)
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { ...keys.message(message.gid, message.iat, message.jti), ...message },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: { ...marker, iat: message.iat },
                ConditionExpression: notExists,
              },
            },
          ],
        }),
      )
      return { iat: message.iat, duplicate: false }
    } catch (error) {
      if (!isConditionFailure(error)) throw error
    }
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: marker, ConsistentRead: true }),
    )
    return { iat: String(Item?.iat), duplicate: true }
  }

  async membershipsOf(iss: string): Promise<{ gid: string; status: MemberStatus; invitedBy: string }[]> {
    const { indexName, partitionKey } = tableSchema.userIndex
    const items = await this.query({
      IndexName: indexName,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': partitionKey },
      ExpressionAttributeValues: { ':pk': keys.userMemberships(iss) },
    })
    return items.map(toMember).map(({ gid, status, invitedBy }) => ({ gid, status, invitedBy }))
  }

  async saveConnection(connection: Connection): Promise<void> {
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: {
                ...keys.connection(connection.connectionId),
                iss: connection.iss,
                connectedAt: connection.connectedAt,
                [tableSchema.ttlAttribute]: connection.expiresAt,
              },
            },
          },
          {
            Update: {
              TableName: this.tableName,
              Key: keys.userConnections(connection.iss),
              UpdateExpression: 'ADD connectionIds :id',
              ExpressionAttributeValues: { ':id': new Set([connection.connectionId]) },
            },
          },
        ],
      }),
    )
  }

  async deleteConnection(connectionId: string, iss?: string): Promise<void> {
    const owner = iss ?? (await this.connectionOwner(connectionId))
    if (owner === undefined) return
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          { Delete: { TableName: this.tableName, Key: keys.connection(connectionId) } },
          {
            Update: {
              TableName: this.tableName,
              Key: keys.userConnections(owner),
              UpdateExpression: 'DELETE connectionIds :id',
              ExpressionAttributeValues: { ':id': new Set([connectionId]) },
            },
          },
        ],
      }),
    )
  }

  async connectionsOf(isses: string[]): Promise<Map<string, string[]>> {
    const items = await this.batchGet(
      isses.map(keys.userConnections),
      `${tableSchema.partitionKey}, connectionIds`,
    )
    const connections = new Map<string, string[]>()
    for (const item of items) {
      const ids = item.connectionIds
      if (ids instanceof Set && ids.size > 0) {
        connections.set(String(item[tableSchema.partitionKey]).slice('USER#'.length), [...ids].map(String))
      }
    }
    return connections
  }

  private async connectionOwner(connectionId: string): Promise<string | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.connection(connectionId), ConsistentRead: true }),
    )
    return typeof Item?.iss === 'string' ? Item.iss : undefined
  }

  private putNewMember(member: Member) {
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.member(member.gid, member.iss),
          ...keys.memberOfUser(member.gid, member.iss),
          ...member,
        },
        ConditionExpression: notExists,
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
  private async batchGet(keyList: Item[], projection?: string): Promise<Item[]> {
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

  private async transact(
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>,
    conflictMessage: string,
  ): Promise<void> {
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }))
    } catch (error) {
      if (isConditionFailure(error)) throw new ChatError('CONFLICT', conflictMessage)
      throw error
    }
  }

  private async conditional(command: UpdateCommand | DeleteCommand, notFoundMessage: string): Promise<void> {
    try {
      await this.db.send(command)
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') {
        throw new ChatError('NOT_FOUND', notFoundMessage)
      }
      throw error
    }
  }
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed')
  )
}

function fromGroup(group: Group): Item {
  const { avatar, ...rest } = group
  return {
    ...keys.group(group.gid),
    ...rest,
    ...(avatar && { avatarKey: avatar.key, avatarMime: avatar.mime }),
  }
}

function toGroup(item: Item): Group {
  const group: Group = {
    gid: String(item.gid),
    name: String(item.name),
    createdBy: String(item.createdBy),
    createdAt: String(item.createdAt),
  }
  if (typeof item.avatarKey === 'string')
    group.avatar = { key: item.avatarKey, mime: String(item.avatarMime) }
  return group
}

function toMember(item: Item): Member {
  const member: Member = {
    gid: String(item.gid),
    iss: String(item.iss),
    status: item.status === 'joined' ? 'joined' : 'invited',
    role: item.role === 'admin' ? 'admin' : 'member',
    invitedBy: String(item.invitedBy),
    invitedAt: String(item.invitedAt),
  }
  if (typeof item.joinedAt === 'string') member.joinedAt = item.joinedAt
  return member
}
