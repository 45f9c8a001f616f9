import type { MessageRef, StoredEvent } from '../../core/model.js'
import { keys } from './keys.js'
import { toEvent, toMessageRef } from './mappers.js'
import { type DynamoTable, type Item, isLive, liveFilter, PK, SK } from './table.js'

/**
 * A group's log as its readers see it: its events by seq or by range, a message by its jti, and who sent
 * messages lately; every read consistent, and nothing past retention served. The group store writes it.
 */
export class DynamoEventLog {
  constructor(protected readonly table: DynamoTable) {}

  async findMessage(gid: string, jti: string): Promise<MessageRef | undefined> {
    const { Item } = await this.table.db.getItem({
      TableName: this.table.name,
      Key: keys.messageMarker(gid, jti),
      ConsistentRead: true,
    })
    // Filtered in code (one item): a marker lives as long as its message, and past it resolves nothing.
    return Item && isLive(Item) ? toMessageRef(Item) : undefined
  }

  async readEvents(
    gid: string,
    range: { after: number; through: number; limit: number; newestFirst: boolean },
  ): Promise<StoredEvent[]> {
    if (range.through <= range.after) return []
    // Events past retention are filtered by DynamoDB (TTL deletes them days late). Limit counts the items
    // read before the filter, so pages are read on until `limit` live events are found or the range ends:
    // a short answer still means the range holds no more.
    const input = this.eventRange(gid, range)
    const live = liveFilter()
    const items: Item[] = []
    const pages = this.table.db.queryPages({
      TableName: this.table.name,
      ...input,
      FilterExpression: live.FilterExpression,
      ExpressionAttributeNames: { ...input.ExpressionAttributeNames, ...live.ExpressionAttributeNames },
      ExpressionAttributeValues: { ...input.ExpressionAttributeValues, ...live.ExpressionAttributeValues },
      ScanIndexForward: !range.newestFirst,
      Limit: range.limit,
      ConsistentRead: true,
    })
    for await (const page of pages) {
      items.push(...page.Items)
      if (items.length >= range.limit) break
    }
    return items.slice(0, range.limit).map(toEvent)
  }

  async getEvents(gid: string, seqs: number[]): Promise<StoredEvent[]> {
    const keyList = seqs.map((seq) => keys.event(gid, seq))
    // Filtered in code: BatchGet takes no filter. An event past retention is gone, as if TTL had run.
    return (await this.table.batchGet(keyList)).filter((item) => isLive(item)).map(toEvent)
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
    const pages = this.table.db.queryPages({
      ...input,
      TableName: this.table.name,
      ScanIndexForward: false,
      FilterExpression: '#type = :message AND iss <> :except AND attribute_not_exists(deleted)',
      ProjectionExpression: 'iss',
      ConsistentRead: true,
      ExpressionAttributeNames: { ...input.ExpressionAttributeNames, '#type': 'type' },
      ExpressionAttributeValues: {
        ...input.ExpressionAttributeValues,
        ':message': 'chat.message',
        ':except': except,
      },
    })
    for await (const page of pages) {
      for (const item of page.Items ?? []) senders.push(String(item.iss))
      if (senders.length >= limit) break
    }
    return senders.slice(0, limit)
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
}
