import type { GroupDeletedEvent } from '@huddle/client/protocol'
import type { Member } from '../../core/model.js'
import type { MembershipIndex } from '../../core/ports.js'
import type { QueryInput } from './client.js'
import { keys } from './keys.js'
import { toMember } from './mappers.js'
import { type DynamoTable, type Item, liveFilter, PK, SK } from './table.js'
import { tableSchema } from './table-schema.js'

/** An identity's groups through the inverted index of memberships, and the notices of groups deleted under it. */
export class DynamoMembershipIndex implements MembershipIndex {
  constructor(private readonly table: DynamoTable) {}

  async membershipsOf(iss: string, page?: { after?: string; limit: number }): Promise<Member[]> {
    const { indexName, partitionKey, sortKey } = tableSchema.userIndex
    const input: Omit<QueryInput, 'TableName'> = {
      IndexName: indexName,
      KeyConditionExpression: page?.after === undefined ? '#pk = :pk' : '#pk = :pk AND #sk > :after',
      ExpressionAttributeNames: { '#pk': partitionKey, ...(page?.after !== undefined && { '#sk': sortKey }) },
      ExpressionAttributeValues: {
        ':pk': keys.userMemberships(iss),
        ...(page?.after !== undefined && { ':after': keys.userMembershipOf(page.after) }),
      },
    }
    if (page === undefined) return (await this.table.query(input)).map(toMember)
    const { Items = [] } = await this.table.db.query({
      TableName: this.table.name,
      ...input,
      Limit: page.limit,
    })
    return Items.map(toMember)
  }

  async pendingInvites(iss: string, atMost: number): Promise<number> {
    const { indexName, partitionKey } = tableSchema.userIndex
    const pages = this.table.db.queryPages({
      TableName: this.table.name,
      IndexName: indexName,
      KeyConditionExpression: '#pk = :pk',
      FilterExpression: '#status = :invited',
      ExpressionAttributeNames: { '#pk': partitionKey, '#status': 'status' },
      ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':invited': 'invited' },
      Select: 'COUNT',
    })
    let count = 0
    for await (const page of pages) {
      count += page.Count ?? 0
      if (count >= atMost) break
    }
    return Math.min(count, atMost)
  }

  async deletedGroupsOf(iss: string, limit: number): Promise<GroupDeletedEvent[]> {
    // Notices older than 30 days are filtered by DynamoDB (TTL deletes them days late); Limit counts before
    // the filter, so pages are read on until `limit` live notices are found.
    const live = liveFilter()
    const Items: Item[] = []
    const pages = this.table.db.queryPages({
      TableName: this.table.name,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :gone)',
      FilterExpression: live.FilterExpression,
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK, ...live.ExpressionAttributeNames },
      ExpressionAttributeValues: {
        ':pk': keys.userMemberships(iss),
        ':gone': keys.deletedGroupPrefix,
        ...live.ExpressionAttributeValues,
      },
      Limit: limit,
      // A member back after its group's deletion must find the notice written a moment before.
      ConsistentRead: true,
    })
    for await (const page of pages) {
      Items.push(...page.Items)
      if (Items.length >= limit) break
    }
    return Items.slice(0, limit).map((item) => ({
      type: 'chat.deleted',
      gid: String(item.gid),
      iss: String(item.iss),
      iat: String(item.iat),
    }))
  }
}
