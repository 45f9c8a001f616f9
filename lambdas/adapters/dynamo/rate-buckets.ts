import type { RateBuckets, RateLimit } from '../../core/ports.js'
import { DynamoError } from './client.js'
import { keys } from './keys.js'
import { type DynamoTable, isConditionFailure, TTL } from './table.js'

/** Buckets whose last known state an instance remembers; past it, it starts over. */
const hintLimit = 10_000

/**
 * Token buckets in the table, as GCRA: a bucket's item keeps its theoretical arrival time (`tat`, epoch
 * ms), when it would be full again. A token is free while `tat` is at most `burst − 1` intervals ahead of
 * now; taking it moves `tat` one interval on, from now when it has passed (idle) or from itself (inside a
 * burst). Each take is one conditional update for the case it expects; a wrong guess fails, and the item
 * returned with the failure says which case applies. `tat` never moves back, so the last value this
 * instance saw is a safe lower bound: it picks the first guess, and refuses without a write when even it
 * is too far ahead.
 */
export class DynamoRateBuckets implements RateBuckets {
  private readonly hints = new Map<string, number>()

  constructor(private readonly table: DynamoTable) {}

  /** Undefined when a token was taken, else the seconds until there is one. */
  async takeToken(iss: string, bucket: string, limit: RateLimit, at: Date): Promise<number | undefined> {
    const hint = `${iss}\n${bucket}`
    const now = at.getTime()
    const interval = 1000 / limit.perSecond
    const latest = now + (limit.burst - 1) * interval
    // Past this, the bucket is full again and its item says nothing an absent one would not.
    const ttl = Math.ceil((latest + interval) / 1000)
    let tat = this.hints.get(hint)
    for (let attempt = 0; attempt < 3; attempt++) {
      if (tat !== undefined && tat > latest) return secondsUntil(tat - latest)
      const idle = tat === undefined || tat <= now
      try {
        const { Attributes } = await this.table.db.updateItem({
          TableName: this.table.name,
          Key: keys.rateBucket(iss, bucket),
          UpdateExpression: idle
            ? 'SET #tat = :next, #ttl = :ttl'
            : 'SET #tat = #tat + :interval, #ttl = :ttl',
          ConditionExpression: idle
            ? 'attribute_not_exists(#tat) OR #tat <= :now'
            : '#tat > :now AND #tat <= :latest',
          ExpressionAttributeNames: { '#tat': 'tat', '#ttl': TTL },
          ExpressionAttributeValues: idle
            ? { ':next': now + interval, ':now': now, ':ttl': ttl }
            : { ':interval': interval, ':now': now, ':latest': latest, ':ttl': ttl },
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        })
        this.remember(hint, Number(Attributes?.tat))
        return undefined
      } catch (error) {
        if (!isConditionFailure(error)) throw error
        const seen = error instanceof DynamoError ? error.Item?.tat : undefined
        tat = typeof seen === 'number' ? seen : undefined
        if (tat !== undefined) this.remember(hint, tat)
      }
    }
    // Overtaken by other takes three times over: the bucket is that busy, so this one waits its turn.
    return secondsUntil(interval)
  }

  private remember(hint: string, tat: number): void {
    if (!Number.isFinite(tat)) return
    if (this.hints.size >= hintLimit) this.hints.clear()
    this.hints.set(hint, tat)
  }
}

/** Milliseconds as seconds, rounded up to the millisecond: a retry that waits this long may find a token. */
function secondsUntil(millis: number): number {
  return Math.max(1, Math.ceil(millis)) / 1000
}
