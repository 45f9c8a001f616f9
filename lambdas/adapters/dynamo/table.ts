import {
  type CancellationReason,
  type DynamoClient,
  DynamoError,
  type Item,
  type QueryInput,
  type TransactItem,
} from './client.js'
import { tableSchema } from './table-schema.js'

export type { CancellationReason, Item, TransactItem }

/** The table's attribute names, short as the key builders and expressions use them. */
export const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = tableSchema
/** The condition that an item does not exist yet. */
export const notExists = `attribute_not_exists(${PK})`

const batchGetLimit = 100

/**
 * DynamoDB deletes an item past its TTL lazily (typically within days), so a read of an item kind that
 * expires must not serve it once its `ttl` (epoch seconds) has passed; an item without one never expires.
 */
export function isLive(item: Item, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const ttl = item[TTL]
  return ttl === undefined || ttl === null || Number(ttl) > nowSeconds
}

/** The same test as a FilterExpression, with its names and values (`#ttl`, `:now`) to merge into a query. */
export function liveFilter(nowSeconds = Math.floor(Date.now() / 1000)) {
  return {
    FilterExpression: 'attribute_not_exists(#ttl) OR #ttl > :now',
    ExpressionAttributeNames: { '#ttl': TTL },
    ExpressionAttributeValues: { ':now': nowSeconds },
  }
}

/** The one table every DynamoDB adapter shares: its client, its name, and the reads and writes they repeat. */
export class DynamoTable {
  constructor(
    readonly db: DynamoClient,
    readonly name: string,
  ) {}

  /** Every page of a query. */
  async query(input: Omit<QueryInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = []
    for await (const page of this.db.queryPages({ ...input, TableName: this.name })) items.push(...page.Items)
    return items
  }

  /**
   * BatchGet in chunks of 100, read consistently unless asked (docs/architecture.md, "Consistency"), retrying whatever
   * DynamoDB leaves unprocessed (too much at once, or a throttled
   * partition) after a jittered exponential backoff, so that readers of one hot partition spread out.
   */
  async batchGet(keyList: Item[], projection?: string, consistent = true): Promise<Item[]> {
    const chunks: Item[][] = []
    for (let i = 0; i < keyList.length; i += batchGetLimit) chunks.push(keyList.slice(i, i + batchGetLimit))
    const results = await Promise.all(
      chunks.map(async (chunk) => {
        const items: Item[] = []
        let pending: Item[] = chunk
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) {
            const backoff = Math.min(1000, 25 * 2 ** attempt)
            await new Promise((resolve) => setTimeout(resolve, backoff / 2 + Math.random() * (backoff / 2)))
          }
          const { Responses, UnprocessedKeys } = await this.db.batchGetItem({
            RequestItems: {
              [this.name]: {
                Keys: pending,
                ...(projection && { ProjectionExpression: projection }),
                ConsistentRead: consistent,
              },
            },
          })
          items.push(...(Responses[this.name] ?? []))
          pending = UnprocessedKeys[this.name]?.Keys ?? []
          if (attempt > 8 && pending.length > 0)
            throw new Error('DynamoDB left keys unprocessed after retries')
        }
        return items
      }),
    )
    return results.flat()
  }

  /**
   * Runs a transaction; undefined when it committed, else why each item was cancelled when a condition
   * failed. One that only met another transaction is sent again by the client (client.ts); one that still
   * conflicts after its retries, or failed otherwise, throws.
   */
  async transact(items: TransactItem[]): Promise<CancellationReason[] | undefined> {
    try {
      await this.db.transactWriteItems({ TransactItems: items })
      return undefined
    } catch (error) {
      const reasons = error instanceof DynamoError ? error.CancellationReasons : undefined
      if (!reasons?.some((reason) => reason.Code === 'ConditionalCheckFailed')) throw error
      return reasons
    }
  }
}

/** Whether a write failed its condition (and nothing else went wrong). */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException'
}
