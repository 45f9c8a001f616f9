import type { FanOutSlices } from '../../core/ports.js'
import { keys } from './keys.js'
import { type DynamoTable, isConditionFailure, TTL } from './table.js'

/** A lease item per fan-out slice: who posts it until when, how far it got, whether it is done. */
export class DynamoFanOutSlices implements FanOutSlices {
  constructor(private readonly table: DynamoTable) {}

  async claimSlice(
    id: string,
    owner: string,
    now: number,
    leaseUntil: number,
    expiresAt: number,
  ): Promise<number | undefined> {
    try {
      const { Attributes } = await this.table.db.updateItem({
        TableName: this.table.name,
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
      })
      return Attributes?.posted as number
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
  }

  async recordSlice(id: string, owner: string, posted: number, done: boolean): Promise<void> {
    await this.table.db.updateItem({
      TableName: this.table.name,
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
    })
  }
}
