import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'

/** An item in DynamoDB's JSON (attribute name → typed value), as requests and answers carry it. */
type WireItem = Record<string, unknown>

/** One write to an item: when DynamoDB answered it, and the item before it (undefined: there was none). */
interface Change {
  at: number
  before: WireItem | undefined
}

/**
 * What an eventually consistent read may see on DynamoDB: a replica that has not yet applied the last
 * `lagMs` of writes. The DynamoDB proxy records each write's item as it was before it (read consistently just
 * before the write is forwarded) and, for a read it serves stale, puts back the item as it was `lagMs` ago:
 * an item changed since is served as it was, one created since is left out, and one deleted since comes back
 * where the read names its key (GetItem, BatchGetItem; a Query cannot bring back an item it does not return,
 * and serves current the items its projection leaves without their key).
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html
 */
export class LaggingReplica {
  /** Each item's changes within the lag, oldest first. */
  private readonly changes = new Map<string, Change[]>()
  /** Every recorded change in time order, to forget them once they are older than the lag. */
  private readonly order: { key: string; at: number }[] = []

  constructor(
    private readonly lagMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records writes DynamoDB has just answered, given the items as they were before them. */
  record(before: ReadonlyMap<string, WireItem | undefined>): void {
    const at = this.now()
    for (const [key, item] of before) {
      const changes = this.changes.get(key) ?? []
      changes.push({ at, before: item })
      this.changes.set(key, changes)
      this.order.push({ key, at })
    }
  }

  /** Whether any write is recent enough for a stale read to differ from a current one. */
  get lagging(): boolean {
    this.forget()
    return this.order.length > 0
  }

  /** The item as the replica has it: `{ item }` when it has changed within the lag, else undefined. */
  asItWas(key: string): { item: WireItem | undefined } | undefined {
    this.forget()
    const oldest = this.changes.get(key)?.[0]
    return oldest && { item: oldest.before }
  }

  private forget(): void {
    const horizon = this.now() - this.lagMs
    let expired = 0
    while (expired < this.order.length && (this.order[expired] as { at: number }).at <= horizon) expired++
    for (const { key } of this.order.splice(0, expired)) {
      const changes = this.changes.get(key)
      changes?.shift()
      if (changes?.length === 0) this.changes.delete(key)
    }
  }
}

/** The key of an item of `table`, as "table|key attributes", the way the proxies name items. */
export function itemKey(table: unknown, attributes: unknown): string | undefined {
  if (typeof table !== 'string' || !isRecord(attributes)) return undefined
  const name = table.startsWith('arn:') ? (table.split(':table/')[1] ?? table) : table
  const { partitionKey, sortKey } = tableSchema
  return JSON.stringify([name, attributes[partitionKey] ?? null, attributes[sortKey] ?? null])
}

/** The table and key attributes of each item a write changes, by the item's key. */
export function writtenItems(
  operation: string,
  input: unknown,
): Map<string, { table: string; key: WireItem }> {
  const items = new Map<string, { table: string; key: WireItem }>()
  const add = (table: unknown, attributes: unknown) => {
    const key = itemKey(table, attributes)
    if (key !== undefined && typeof table === 'string' && isRecord(attributes)) {
      items.set(key, { table, key: keyOf(attributes) })
    }
  }
  if (!isRecord(input)) return items
  if (operation === 'PutItem') add(input.TableName, input.Item)
  else if (operation === 'UpdateItem' || operation === 'DeleteItem') add(input.TableName, input.Key)
  else if (operation === 'TransactWriteItems' && Array.isArray(input.TransactItems)) {
    for (const entry of input.TransactItems) {
      if (!isRecord(entry)) continue
      const write = entry.Put ?? entry.Update ?? entry.Delete
      if (isRecord(write)) add(write.TableName, isRecord(entry.Put) ? write.Item : write.Key)
    }
  } else if (operation === 'BatchWriteItem' && isRecord(input.RequestItems)) {
    for (const [table, requests] of Object.entries(input.RequestItems)) {
      for (const request of Array.isArray(requests) ? requests : []) {
        if (!isRecord(request)) continue
        if (isRecord(request.PutRequest)) add(table, request.PutRequest.Item)
        if (isRecord(request.DeleteRequest)) add(table, request.DeleteRequest.Key)
      }
    }
  }
  return items
}

/** Whether a read may be served by a replica: not asked to be consistent, or through an index. */
export function isEventualRead(operation: string, input: unknown): boolean {
  if (!isRecord(input)) return false
  if (operation === 'GetItem') return input.ConsistentRead !== true
  if (operation === 'Query') return input.ConsistentRead !== true || input.IndexName !== undefined
  if (operation === 'BatchGetItem' && isRecord(input.RequestItems)) {
    return Object.values(input.RequestItems).some((r) => isRecord(r) && r.ConsistentRead !== true)
  }
  return false
}

/**
 * A read's answer as the lagging replica would give it; undefined when it is the same as the current one.
 * Items are kept to the read's ProjectionExpression when it has one.
 */
export function staleAnswer(
  replica: LaggingReplica,
  operation: string,
  input: unknown,
  answer: Record<string, unknown>,
): Record<string, unknown> | undefined {
  if (!isRecord(input)) return undefined
  let changed = false
  const asItWas = (table: unknown, item: WireItem, projection: Projection) => {
    const key = itemKey(table, item)
    const was = key === undefined ? undefined : replica.asItWas(key)
    if (was === undefined) return item
    changed = true
    return was.item && projection(was.item)
  }
  if (operation === 'GetItem') {
    const key = itemKey(input.TableName, input.Key)
    const was = key === undefined ? undefined : replica.asItWas(key)
    if (was === undefined) return undefined
    const { Item: _, ...rest } = answer
    const item = was.item && projectionOf(input)(was.item)
    return item ? { ...rest, Item: item } : rest
  }
  if (operation === 'Query' && Array.isArray(answer.Items)) {
    const index = input.IndexName === undefined ? undefined : tableSchema.userIndex.partitionKey
    const items = (answer.Items as WireItem[]).flatMap((item) => {
      const was = asItWas(input.TableName, item, projectionOf(input))
      // An item whose older version was not in the index (or under another key) is not in a stale answer.
      if (was === undefined || (index && JSON.stringify(was[index]) !== JSON.stringify(item[index])))
        return []
      return [was]
    })
    if (!changed) return undefined
    return { ...answer, Items: items, Count: items.length }
  }
  if (operation === 'BatchGetItem' && isRecord(input.RequestItems) && isRecord(answer.Responses)) {
    const responses: Record<string, WireItem[]> = {}
    for (const [table, request] of Object.entries(input.RequestItems)) {
      const current = (answer.Responses[table] as WireItem[] | undefined) ?? []
      if (!isRecord(request) || request.ConsistentRead === true || !Array.isArray(request.Keys)) {
        responses[table] = current
        continue
      }
      const byKey = new Map(current.map((item) => [itemKey(table, item), item]))
      const projection = projectionOf(request)
      responses[table] = request.Keys.flatMap((requested) => {
        const key = itemKey(table, requested)
        const was = key === undefined ? undefined : replica.asItWas(key)
        if (was === undefined) return byKey.has(key) ? [byKey.get(key) as WireItem] : []
        changed = true
        return was.item ? [projection(was.item)] : []
      })
    }
    return changed ? { ...answer, Responses: responses } : undefined
  }
  return undefined
}

type Projection = (item: WireItem) => WireItem

/** Keeps an item to the top-level attributes a ProjectionExpression names (all when there is none). */
function projectionOf(input: Record<string, unknown>): Projection {
  const expression = input.ProjectionExpression
  if (typeof expression !== 'string') return (item) => item
  const names = isRecord(input.ExpressionAttributeNames) ? input.ExpressionAttributeNames : {}
  const kept = expression.split(',').map((part) => {
    const name = (part.trim().split(/[.[]/)[0] ?? '').trim()
    return typeof names[name] === 'string' ? (names[name] as string) : name
  })
  return (item) => Object.fromEntries(Object.entries(item).filter(([name]) => kept.includes(name)))
}

function keyOf(attributes: WireItem): WireItem {
  const { partitionKey, sortKey } = tableSchema
  return { [partitionKey]: attributes[partitionKey], [sortKey]: attributes[sortKey] }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
