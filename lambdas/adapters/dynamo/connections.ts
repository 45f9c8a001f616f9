import { forEachLimited } from '../../core/concurrency.js'
import type { Connection } from '../../core/model.js'
import type { ConnectionStore, MembershipIndex } from '../../core/ports.js'
import { keys } from './keys.js'
import { DynamoRecipients } from './recipients.js'
import { type DynamoTable, PK, type TransactItem, TTL } from './table.js'

/** An identity's open connections as one consistent read saw them, and the version that moves with them. */
export interface CurrentConnections {
  ids: string[]
  version: number | undefined
}

/**
 * Who is connected where. Each connection has an item; each identity has the set of its connection ids
 * (with a version that moves on every change) and the set of groups it has joined; and each joined group's
 * recipient shards keep a copy of its members' connection ids (DynamoRecipients), so that a fan-out reads
 * them in a few items instead of one per recipient.
 *
 * The copies stay right because every change meets every join: a connection opening or closing updates
 * the shards of the groups it reads in the (consistent) set of joined groups, and a join copies the
 * connections on the condition that their version has not moved since it read them.
 */
export class DynamoConnections implements ConnectionStore {
  private readonly db: DynamoTable['db']
  private readonly tableName: string
  /** The groups' recipient shards, which hold the copies (and which the group store writes on joins and
   * departures). */
  readonly recipients: DynamoRecipients

  constructor(
    private readonly table: DynamoTable,
    /** Where the identity's joined groups are found when it has no set of them yet (data written before there
     * was one). */
    private readonly memberships: Pick<MembershipIndex, 'membershipsOf'>,
  ) {
    this.db = table.db
    this.tableName = table.name
    this.recipients = new DynamoRecipients(table)
  }

  /** Records a connection, also in the identity's joined memberships; answers how many groups it has joined. */
  async saveConnection(connection: Connection): Promise<number> {
    await this.db.transactWriteItems({
      TransactItems: [
        {
          Put: {
            TableName: this.tableName,
            Item: {
              ...keys.connection(connection.connectionId),
              iss: connection.iss,
              connectedAt: connection.connectedAt,
              [TTL]: connection.expiresAt,
            },
          },
        },
        this.moveConnections(connection.iss, 'ADD', connection.connectionId),
      ],
    })
    const joined = await this.copyToShards(connection.iss, 'ADD', connection.connectionId)
    // Closed while it was being copied: the close may have taken it out before the copies were made.
    const { Item } = await this.db.getItem({
      TableName: this.tableName,
      Key: keys.connection(connection.connectionId),
      ConsistentRead: true,
      ProjectionExpression: PK,
    })
    if (Item === undefined) await this.copyToShards(connection.iss, 'DELETE', connection.connectionId)
    return joined
  }

  /** Forgets a connection, in the identity's set and in its memberships; the identity is looked up when not given. */
  async deleteConnection(connectionId: string, iss?: string): Promise<void> {
    const owner = iss ?? (await this.ownerOf(connectionId))
    if (owner === undefined) return
    await this.db.transactWriteItems({
      TransactItems: [
        { Delete: { TableName: this.tableName, Key: keys.connection(connectionId) } },
        this.moveConnections(owner, 'DELETE', connectionId),
      ],
    })
    await this.copyToShards(owner, 'DELETE', connectionId)
  }

  /** The open connection ids of each identity, read consistently (so as not to miss one opened a moment
   * ago) in batches. */
  async connectionsOf(isses: string[]): Promise<Map<string, string[]>> {
    const items = await this.table.batchGet(isses.map(keys.userConnections), `${PK}, connectionIds`)
    const connections = new Map<string, string[]>()
    for (const item of items) {
      const ids = item.connectionIds
      if (ids instanceof Set && ids.size > 0) {
        connections.set(String(item[PK]).slice('USER#'.length), [...ids].map(String))
      }
    }
    return connections
  }

  /** The identity's connections and their version, read consistently, for a join to copy. */
  async current(iss: string): Promise<CurrentConnections> {
    const { Item } = await this.db.getItem({
      TableName: this.tableName,
      Key: keys.userConnections(iss),
      ConsistentRead: true,
    })
    const ids = Item?.connectionIds instanceof Set ? [...Item.connectionIds].map(String) : []
    return { ids, version: typeof Item?.version === 'number' ? Item.version : undefined }
  }

  /** What a join adds to its transaction: the group in the joined set, on connections still as read. */
  joined(gid: string, iss: string, read: CurrentConnections): TransactItem[] {
    return [
      this.moveGroups(iss, 'ADD', gid),
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: keys.userConnections(iss),
          ConditionExpression:
            read.version === undefined ? 'attribute_not_exists(#version)' : '#version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ...(read.version !== undefined && { ExpressionAttributeValues: { ':version': read.version } }),
        },
      },
    ]
  }

  /** What a leave adds to its transaction: the group out of the joined set. */
  left(gid: string, iss: string): TransactItem[] {
    return [this.moveGroups(iss, 'DELETE', gid)]
  }

  /** The same change on its own, for a group that is being deleted. */
  leftUpdate(gid: string, iss: string): NonNullable<TransactItem['Update']> {
    const { Update } = this.moveGroups(iss, 'DELETE', gid)
    if (Update === undefined) throw new Error('moveGroups makes an Update')
    return Update
  }

  private moveConnections(iss: string, verb: 'ADD' | 'DELETE', connectionId: string): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: keys.userConnections(iss),
        UpdateExpression:
          verb === 'ADD'
            ? 'ADD connectionIds :id, #version :one'
            : 'DELETE connectionIds :id ADD #version :one',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':id': new Set([connectionId]), ':one': 1 },
      },
    }
  }

  private moveGroups(iss: string, verb: 'ADD' | 'DELETE', gid: string): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: keys.userGroups(iss),
        UpdateExpression: `${verb} gids :gid`,
        ExpressionAttributeValues: { ':gid': new Set([gid]) },
      },
    }
  }

  /** Adds or removes a connection in the recipient shards of the identity's joined groups; answers how many
   * groups it has joined. */
  private async copyToShards(iss: string, verb: 'ADD' | 'DELETE', connectionId: string): Promise<number> {
    const joined = await this.joinedGroups(iss)
    // A membership left meanwhile names no shard, and keeps no copy.
    const shards = await this.recipients.shardsOf(iss, joined)
    await forEachLimited([...shards], 8, async ([gid, shard]) => {
      await this.recipients.copyConnection(gid, iss, shard, verb, connectionId)
    })
    return joined.length
  }

  private async joinedGroups(iss: string): Promise<string[]> {
    const { Item } = await this.db.getItem({
      TableName: this.tableName,
      Key: keys.userGroups(iss),
      ConsistentRead: true,
    })
    if (Item === undefined) {
      const memberships = await this.memberships.membershipsOf(iss)
      return memberships.filter((m) => m.status === 'joined').map((m) => m.gid)
    }
    return Item.gids instanceof Set ? [...Item.gids].map(String) : []
  }

  private async ownerOf(connectionId: string): Promise<string | undefined> {
    const { Item } = await this.db.getItem({
      TableName: this.tableName,
      Key: keys.connection(connectionId),
      ConsistentRead: true,
    })
    return typeof Item?.iss === 'string' ? Item.iss : undefined
  }
}
