import type { PresenceRecord, PresenceStore } from '../../core/ports.js'
import { keys } from './keys.js'
import { type DynamoTable, type Item, isConditionFailure, PK } from './table.js'

/** The sort keys of a recipient index's shard sizes (`n0`, `n1`…), summed into a group's joined members. */
const shardSize = /^n\d+$/

/**
 * Presence, kept on the item that holds each identity's set of connection ids (`CONNS`), so that a condition
 * can ask whether any is left: `online` (with `since`), `leftAt` while its last connection's grace runs,
 * `lastSeen` once it went offline, and `hidden`.
 */
export class DynamoPresence implements PresenceStore {
  constructor(private readonly table: DynamoTable) {}

  async markOnline(iss: string, at: string): Promise<boolean> {
    const { Attributes } = await this.table.db.updateItem({
      TableName: this.table.name,
      Key: keys.userConnections(iss),
      UpdateExpression: 'SET #online = :true, #since = if_not_exists(#since, :at) REMOVE #leftAt',
      ExpressionAttributeNames: { '#online': 'online', '#since': 'since', '#leftAt': 'leftAt' },
      ExpressionAttributeValues: { ':true': true, ':at': at },
      ReturnValues: 'UPDATED_OLD',
    })
    return Attributes?.online !== true
  }

  async markLeaving(iss: string, at: string): Promise<boolean> {
    return this.conditionally(iss, {
      UpdateExpression: 'SET #leftAt = :at',
      // A set that loses its last element is removed: no connectionIds, no connection.
      ConditionExpression: 'attribute_not_exists(connectionIds) AND #online = :true',
      ExpressionAttributeNames: { '#leftAt': 'leftAt', '#online': 'online' },
      ExpressionAttributeValues: { ':at': at, ':true': true },
    })
  }

  async markOffline(iss: string, leftAt: string): Promise<boolean> {
    return this.conditionally(iss, {
      UpdateExpression: 'SET #online = :false, #lastSeen = :at REMOVE #since, #leftAt',
      ConditionExpression: 'attribute_not_exists(connectionIds) AND #leftAt = :at',
      ExpressionAttributeNames: {
        '#online': 'online',
        '#lastSeen': 'lastSeen',
        '#since': 'since',
        '#leftAt': 'leftAt',
      },
      ExpressionAttributeValues: { ':false': false, ':at': leftAt },
    })
  }

  async setHidden(iss: string, hidden: boolean): Promise<boolean> {
    const { Attributes } = await this.table.db.updateItem({
      TableName: this.table.name,
      Key: keys.userConnections(iss),
      UpdateExpression: hidden ? 'SET #hidden = :true' : 'REMOVE #hidden',
      ExpressionAttributeNames: { '#hidden': 'hidden' },
      ...(hidden && { ExpressionAttributeValues: { ':true': true } }),
      ReturnValues: 'UPDATED_OLD',
    })
    return (Attributes?.hidden === true) !== hidden
  }

  async presenceOf(isses: string[]): Promise<Map<string, PresenceRecord>> {
    const items = await this.table.batchGet(isses.map(keys.userConnections))
    const records = new Map<string, PresenceRecord>()
    for (const item of items) {
      const iss = String(item[PK]).slice('USER#'.length)
      records.set(iss, toRecord(iss, item))
    }
    return records
  }

  async joinedGroupSizes(iss: string): Promise<Map<string, number>> {
    const { Item } = await this.table.db.getItem({
      TableName: this.table.name,
      Key: keys.userGroups(iss),
      ConsistentRead: true,
    })
    const gids = Item?.gids instanceof Set ? [...Item.gids].map(String) : []
    // The recipient indexes only: a group's size without reading its shards.
    const indexes = await this.table.batchGet(gids.map(keys.recipients), undefined, false)
    const sizes = new Map<string, number>()
    for (const index of indexes) {
      const gid = String(index[PK]).slice('GROUP#'.length)
      const joined = Object.entries(index)
        .filter(([name]) => shardSize.test(name))
        .reduce((sum, [, value]) => sum + Number(value), 0)
      sizes.set(gid, joined)
    }
    return sizes
  }

  /** An update on a condition: false when the condition did not hold. */
  private async conditionally(
    iss: string,
    update: {
      UpdateExpression: string
      ConditionExpression: string
      ExpressionAttributeNames: Record<string, string>
      ExpressionAttributeValues: Item
    },
  ): Promise<boolean> {
    try {
      await this.table.db.updateItem({
        TableName: this.table.name,
        Key: keys.userConnections(iss),
        ...update,
      })
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }
}

function toRecord(iss: string, item: Item): PresenceRecord {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
  const since = text(item.since)
  const leftAt = text(item.leftAt)
  const lastSeen = text(item.lastSeen)
  return {
    iss,
    online: item.online === true,
    connected: item.connectionIds instanceof Set && item.connectionIds.size > 0,
    hidden: item.hidden === true,
    ...(since && { since }),
    ...(leftAt && { leftAt }),
    ...(lastSeen && { lastSeen }),
  }
}
