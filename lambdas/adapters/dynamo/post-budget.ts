import type { PostBudget } from '../../core/post-pacing.js'
import { DynamoError } from './client.js'
import { keys } from './keys.js'
import { type DynamoTable, isConditionFailure, TTL } from './table.js'

/** The budget's holder in the rate buckets' key: no identity holds a `~` (identityPattern), so no identity's
 * bucket is one of its. */
const budgetHolder = '~fanout'

/** How long the item outlives its last reservation: a `tat` gone by is the same as none. */
const keptSeconds = 60 * 60

/**
 * The workers' post budget in one item, as GCRA: `tat` (epoch ms) is when the slots reserved so far end.
 * A reservation moves it `count` intervals on, from the caller's `notBefore` when it has passed (idle) or
 * from itself (busy),
 * in one conditional update for the case expected; a wrong guess fails with the item, which says which
 * case applies. Every reservation is granted: it only says when its slots are, so that no worker is ever
 * refused and none can take more than the rate. At the default rate, about 50 writes a second on the item.
 */
export class DynamoPostBudget implements PostBudget {
  /** The last `tat` this instance saw: a lower bound, as `tat` never moves back, for the first guess. */
  private seen: number | undefined

  private readonly key: ReturnType<typeof keys.rateBucket>

  /** `name` tells budgets apart (a test's own); the workers share `posts`. */
  constructor(
    private readonly table: DynamoTable,
    name = 'posts',
  ) {
    this.key = keys.rateBucket(budgetHolder, name)
  }

  async reserve(count: number, perSecond: number, now: number): Promise<number> {
    // `now` is the caller's notBefore: the slots start there when the budget is idle.
    const span = (count * 1000) / perSecond
    const ttl = Math.ceil(now / 1000) + keptSeconds
    let idle = this.seen === undefined || this.seen <= now
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const { Attributes } = await this.table.db.updateItem({
          TableName: this.table.name,
          Key: this.key,
          UpdateExpression: idle ? 'SET #tat = :next, #ttl = :ttl' : 'SET #tat = #tat + :span, #ttl = :ttl',
          ConditionExpression: idle ? 'attribute_not_exists(#tat) OR #tat <= :now' : '#tat > :now',
          ExpressionAttributeNames: { '#tat': 'tat', '#ttl': TTL },
          ExpressionAttributeValues: idle
            ? { ':next': now + span, ':now': now, ':ttl': ttl }
            : { ':span': span, ':now': now, ':ttl': ttl },
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        })
        const tat = Number(Attributes?.tat)
        if (!Number.isFinite(tat)) throw new Error('the post budget returned no tat')
        this.seen = tat
        return tat - span
      } catch (error) {
        if (!isConditionFailure(error)) throw error
        const tat = error instanceof DynamoError ? error.Item?.tat : undefined
        idle = typeof tat !== 'number' || tat <= now
        if (typeof tat === 'number') this.seen = tat
      }
    }
    throw new Error('the post budget changed case on every try')
  }
}
