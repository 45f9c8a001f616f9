import type { Quotas } from '../../core/ports.js'
import { keys } from './keys.js'
import { type DynamoTable, isConditionFailure, TTL } from './table.js'

/** Fixed-window counters in the table, one item per identity, action and window, gone with the window. */
export class DynamoQuotas implements Quotas {
  constructor(private readonly table: DynamoTable) {}

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
      await this.table.db.updateItem({
        TableName: this.table.name,
        Key: keys.rateWindow(iss, action, windowStart),
        UpdateExpression: 'ADD #count :one SET #ttl = :ttl',
        ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
        ExpressionAttributeNames: { '#count': 'count', '#ttl': TTL },
        ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': windowEnd },
      })
      return undefined
    } catch (error) {
      if (isConditionFailure(error)) return windowEnd - now
      throw error
    }
  }
}
