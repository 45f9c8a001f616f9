import type { Appended, Member, StoredEvent } from '../../core/model.js'
import type { CurrentConnections, DynamoConnections } from './connections.js'
import { DynamoEventLog } from './event-log.js'
import { keys } from './keys.js'
import { fromMember, toGroup } from './mappers.js'
import { type RecipientIndex, shardAttribute } from './recipients.js'
import { type DynamoTable, type Item, notExists, type TransactItem, TTL } from './table.js'

/**
 * How a group's log grows: each change one transaction that takes the log's next seq, and the joined
 * members' places in the recipient shards. The group store's capabilities are built on it.
 */
export abstract class DynamoGroupAppends extends DynamoEventLog {
  constructor(
    table: DynamoTable,
    /** Joins and leaves keep each identity's connections and joined groups right in the same transaction. */
    protected readonly connections: DynamoConnections,
  ) {
    super(table)
  }

  /**
   * One transaction that takes seq head + 1 for `event` (the group's head must still be the seq before
   * it), stores the event and applies `change`. Which condition failed tells the outcome.
   */
  protected async append(
    event: StoredEvent,
    expiresAt: number,
    change: TransactItem | undefined,
    alongside: TransactItem[] = [],
    {
      departs = false,
      arrives = false,
      fields = {},
      stale = [],
      cleared = [],
      alongsideRejects = false,
    }: {
      departs?: boolean
      arrives?: boolean
      fields?: Item
      stale?: number[]
      cleared?: number[]
      alongsideRejects?: boolean
    } = {},
  ): Promise<Appended<Item>> {
    const names: Record<string, string> = {}
    const values: Record<string, unknown> = { ':next': event.seq, ...((departs || arrives) && { ':one': 1 }) }
    const sets = Object.entries(fields).map(([name, value], i) => {
      names[`#f${i}`] = name
      values[`:f${i}`] = value
      return `#f${i} = :f${i}`
    })
    const adds: string[] = []
    if (departs) {
      sets.push('departedSeq = :next')
      adds.push('departures :one')
    }
    if (arrives) {
      sets.push('arrivedSeq = :next')
      adds.push('arrivals :one')
    }
    // An encrypted group's stale leaves: a set, which an empty one cannot be.
    if (stale.length > 0) {
      adds.push('stale :stale')
      values[':stale'] = new Set(stale)
    }
    if (cleared.length > 0) values[':cleared'] = new Set(cleared)
    const head = headIs(event.seq - 1, values)
    const outcome = await this.table.transact([
      {
        Update: {
          TableName: this.table.name,
          Key: keys.group(event.gid),
          UpdateExpression:
            ['SET #seq = :next', ...sets].join(', ') +
            (adds.length > 0 ? ` ADD ${adds.join(', ')}` : '') +
            (cleared.length > 0 ? ' DELETE stale :cleared' : ''),
          ...head,
          ExpressionAttributeNames: { ...head.ExpressionAttributeNames, ...names },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      {
        Put: {
          TableName: this.table.name,
          Item: { ...keys.event(event.gid, event.seq), ...event, [TTL]: expiresAt },
          ConditionExpression: notExists,
        },
      },
      ...(change ? [change] : []),
      ...alongside,
    ])
    if (outcome === undefined) return 'appended'
    const [group, , ...changed] = outcome.map((reason) => ({
      failed: reason.Code === 'ConditionalCheckFailed',
      item: reason.Item,
    }))
    // The change's own condition, or (when they are part of the decision) the conditions beside it.
    const rejected = (alongsideRejects ? changed : changed.slice(0, 1)).find((reason) => reason.failed)
    if (rejected) return { rejected: rejected.item }
    return { moved: group?.item && toGroup(group.item) }
  }

  /**
   * What places the joined ones of `members` in recipient shards: the creator with the connections it has
   * (`current`, which the transaction checks), any other with the connections read now.
   */
  protected async placeJoined(
    gid: string,
    index: RecipientIndex,
    at: number,
    members: Member[],
    creator?: Member,
    current?: CurrentConnections,
  ) {
    const joined = members.filter((m) => m.status === 'joined' && m !== creator).map((m) => m.iss)
    const theirs =
      joined.length > 0 ? await this.connections.connectionsOf(joined) : new Map<string, string[]>()
    const joiners = [
      ...(creator ? [{ iss: creator.iss, connections: current?.ids ?? [] }] : []),
      ...joined.map((iss) => ({ iss, connections: theirs.get(iss) ?? [] })),
    ]
    if (joiners.length === 0) return { items: [], shardOf: new Map<string, number>() }
    return this.connections.recipients.place(gid, index, at, joiners)
  }

  protected putMember(
    member: Member,
    shard: number | undefined,
    condition: string,
    names?: Record<string, string>,
    values?: Record<string, unknown>,
  ): TransactItem {
    return {
      Put: {
        TableName: this.table.name,
        Item: { ...fromMember(member), ...(shard !== undefined && { [shardAttribute]: shard }) },
        ConditionExpression: condition,
        ...(names && { ExpressionAttributeNames: names }),
        ...(values && { ExpressionAttributeValues: values }),
      },
    }
  }
}

/** The condition that the group's head is still `head` (a group from before seqs has none: 0). */
export function headIs(head: number, values: Record<string, unknown> = {}) {
  return {
    ConditionExpression: head === 0 ? 'attribute_not_exists(#seq) OR #seq = :head' : '#seq = :head',
    ExpressionAttributeNames: { '#seq': 'seq' },
    ExpressionAttributeValues: { ':head': head, ...values },
  }
}

export function mapRejected<T>(outcome: Appended<Item>, convert: (item: Item) => T): Appended<T> {
  if (outcome === 'appended' || 'moved' in outcome) return outcome
  return { rejected: outcome.rejected && convert(outcome.rejected) }
}
