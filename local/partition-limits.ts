import type { IncomingMessage } from 'node:http'
import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'
import type { AwsBehaviourCounters, AwsBehaviours, DynamoRefusal } from './aws-behaviours.js'
import { localAccount } from './grants.js'

/**
 * Token buckets by key, each refilled at `rate` units a second and holding at most one second's worth (the
 * burst a DynamoDB partition allows); a bucket not seen yet is full.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()
  private sinceSweep = 0

  constructor(private readonly now: () => number = Date.now) {}

  /** The units `key` holds now. */
  available(key: string, rate: number): number {
    return this.refilled(key, rate).tokens
  }

  /** Takes `units` from `key` when it holds them all; false leaves it as it was. */
  take(key: string, rate: number, units: number): boolean {
    const bucket = this.refilled(key, rate)
    if (bucket.tokens < units) return false
    bucket.tokens -= units
    return true
  }

  /** Takes `units` whatever `key` holds, going below zero if need be (a read's cost, known once answered). */
  spend(key: string, rate: number, units: number): void {
    this.refilled(key, rate).tokens -= units
  }

  private refilled(key: string, rate: number): { tokens: number; at: number } {
    const now = this.now()
    if (++this.sinceSweep >= 10_000) this.sweep(rate, now)
    const bucket = this.buckets.get(key)
    if (!bucket) {
      const full = { tokens: rate, at: now }
      this.buckets.set(key, full)
      return full
    }
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate)
    bucket.at = now
    return bucket
  }

  /** Forgets the buckets that have refilled: they are as good as new. */
  private sweep(rate: number, now: number): void {
    this.sinceSweep = 0
    for (const [key, { tokens, at }] of this.buckets) {
      if (tokens + ((now - at) / 1000) * rate >= rate) this.buckets.delete(key)
    }
  }
}

/**
 * DynamoDB's capacity units, approximated from what a request and its answer carry (JSON sizes, type tags
 * included): a write is one unit per started KB of its item as the request holds it (a Put's Item; an
 * Update's key and values; a Delete's or ConditionCheck's key), two in a transaction; a read is one unit per
 * started 4 KB of the answer, half that when eventually consistent (every index read), and at least that
 * much per item asked for (one for a Query), charged before it is sent. TransactGetItems and Scan, which
 * Huddle never sends, are not limited.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/capacity-mode.html
 */
export const capacityUnits = {
  write: (itemBytes: number, transactional = false) =>
    Math.max(1, Math.ceil(itemBytes / 1024)) * (transactional ? 2 : 1),
  read: (answerBytes: number, items: number, factor: number) =>
    Math.max(items, Math.ceil(answerBytes / 4096)) * factor,
}

/** A read's units per 4 KB: 1 strongly consistent, 0.5 eventually consistent. */
function readFactor(consistent: boolean): number {
  return consistent ? 1 : 0.5
}

/** What the proxy does with a request past the partition limits. */
export interface Admission {
  /** Answer this instead of forwarding. */
  refusal?: DynamoRefusal
  /** A batch cut short: forward this request instead, and pass its answer through `answer`. */
  cut?: { input: Record<string, unknown>; answer(output: Record<string, unknown>): Record<string, unknown> }
  /** A read forwarded whole: charge the rest of its units once its answer's size is known. */
  charge?: (answerBytes: number) => void
}

/** One partition a request reads or writes: its bucket's key, and the units it needs there. */
interface Touch {
  partition: string
  units: number
  /** Whether the partition is an index's (its reason and message say so). */
  index: boolean
}

const pk = tableSchema.partitionKey
const { userIndex } = tableSchema
const dynamoErrorPrefix = 'com.amazonaws.dynamodb.v20120810#'
const tableMessage =
  'The level of configured provisioned throughput for the table was exceeded. Consider increasing your ' +
  'provisioning level with the UpdateTable API.'
const indexMessage =
  'The level of configured provisioned throughput for one or more global secondary indexes of the table was ' +
  'exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes ' +
  'with the UpdateTable API.'
const throttlingReasonMessage =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your ' +
  'table or index so please try again shortly. If exceptions persist, check if you have a hot key: ' +
  'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html'

/**
 * DynamoDB's throughput limit per partition (per PK value of a table, per GSI1PK value of the index): a token
 * bucket of read units and one of write units per partition key value, at `partitionReadUnits` and
 * `partitionWriteUnits` a second, read from the behaviours at each request. Past it a plain call answers
 * ProvisionedThroughputExceededException, a TransactWriteItems is cancelled with ThrottlingError on the
 * items of the throttled partitions, and a batch leaves the throttled items unprocessed (throttled whole, it
 * answers the exception). https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html
 */
export class PartitionLimits {
  private readonly reads: TokenBuckets
  private readonly writes: TokenBuckets

  constructor(
    private readonly behaviours: AwsBehaviours,
    private readonly counters: AwsBehaviourCounters,
    now: () => number = Date.now,
  ) {
    this.reads = new TokenBuckets(now)
    this.writes = new TokenBuckets(now)
  }

  /** Whether `operation` may be forwarded as it is, cut short, or is refused; undefined when no limit applies. */
  admit(operation: string, input: unknown): Admission | undefined {
    if (!isRecord(input)) return undefined
    const { partitionReadUnits: readRate, partitionWriteUnits: writeRate } = this.behaviours
    switch (operation) {
      case 'PutItem':
      case 'UpdateItem':
      case 'DeleteItem':
        return writeRate > 0
          ? this.single(this.writes, writeRate, writeTouch(input, 'write'), 'Write')
          : undefined
      case 'GetItem':
      case 'Query':
        return readRate > 0 ? this.read(readRate, operation, input) : undefined
      case 'TransactWriteItems':
        return writeRate > 0 ? this.transaction(writeRate, input) : undefined
      case 'BatchWriteItem':
        return writeRate > 0 ? this.batchWrite(writeRate, input) : undefined
      case 'BatchGetItem':
        return readRate > 0 ? this.batchGet(readRate, input) : undefined
      default:
        return undefined
    }
  }

  private single(
    buckets: TokenBuckets,
    rate: number,
    touch: Touch | undefined,
    kind: 'Read' | 'Write',
  ): Admission | undefined {
    if (!touch || buckets.take(touch.partition, rate, touch.units)) return undefined
    this.count(kind)
    return { refusal: throughputExceeded(touch, kind) }
  }

  private read(rate: number, operation: string, input: Record<string, unknown>): Admission | undefined {
    const touch = operation === 'GetItem' ? getTouch(input) : queryTouch(input)
    if (!touch) return undefined
    const refused = this.single(this.reads, rate, touch, 'Read')
    if (refused) return refused
    const factor = touch.units
    return {
      charge: (bytes) =>
        this.reads.spend(touch.partition, rate, capacityUnits.read(bytes, 1, factor) - factor),
    }
  }

  private transaction(rate: number, input: Record<string, unknown>): Admission | undefined {
    const entries = Array.isArray(input.TransactItems) ? input.TransactItems : []
    const touches = entries.map((entry: unknown) => {
      const [, body] = isRecord(entry) ? (Object.entries(entry)[0] ?? []) : []
      return isRecord(body) ? writeTouch(body, 'transaction') : undefined
    })
    const needed = new Map<string, number>()
    for (const touch of touches) {
      if (touch) needed.set(touch.partition, (needed.get(touch.partition) ?? 0) + touch.units)
    }
    const short = new Set(
      [...needed]
        .filter(([partition, units]) => this.writes.available(partition, rate) < units)
        .map(([p]) => p),
    )
    if (short.size === 0) {
      for (const [partition, units] of needed) this.writes.take(partition, rate, units)
      return undefined
    }
    this.count('Write')
    const codes = touches.map((touch) => (touch && short.has(touch.partition) ? 'ThrottlingError' : 'None'))
    return {
      refusal: {
        body: {
          __type: `${dynamoErrorPrefix}TransactionCanceledException`,
          Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
          CancellationReasons: codes.map((Code) =>
            Code === 'None' ? { Code } : { Code, Message: throttlingReasonMessage },
          ),
        },
      },
    }
  }

  private batchWrite(rate: number, input: Record<string, unknown>): Admission | undefined {
    const requestItems = isRecord(input.RequestItems) ? input.RequestItems : {}
    const kept: Record<string, unknown[]> = {}
    const left: Record<string, unknown[]> = {}
    let first: Touch | undefined
    for (const [table, requests] of Object.entries(requestItems)) {
      for (const request of Array.isArray(requests) ? requests : []) {
        const put = isRecord(request) && isRecord(request.PutRequest) ? request.PutRequest : undefined
        const del = isRecord(request) && isRecord(request.DeleteRequest) ? request.DeleteRequest : undefined
        const touch = writeTouch(
          { TableName: table, ...(put ? { Item: put.Item } : { Key: del?.Key }) },
          'write',
        )
        const admitted = !touch || this.writes.take(touch.partition, rate, touch.units)
        first ??= admitted ? undefined : touch
        const into = admitted ? kept : left
        into[table] ??= []
        into[table].push(request)
      }
    }
    return this.cutShort(input, kept, left, first, 'Write', 'UnprocessedItems')
  }

  private batchGet(rate: number, input: Record<string, unknown>): Admission | undefined {
    const requestItems = isRecord(input.RequestItems) ? input.RequestItems : {}
    const kept: Record<string, Record<string, unknown> & { Keys: unknown[] }> = {}
    const left: Record<string, Record<string, unknown> & { Keys: unknown[] }> = {}
    const charged: Touch[] = []
    let first: Touch | undefined
    for (const [table, request] of Object.entries(requestItems)) {
      if (!isRecord(request)) continue
      const factor = readFactor(request.ConsistentRead === true)
      for (const key of Array.isArray(request.Keys) ? request.Keys : []) {
        const touch = getTouch({ TableName: table, Key: key, ConsistentRead: request.ConsistentRead })
        const admitted = !touch || this.reads.take(touch.partition, rate, factor)
        if (admitted && touch) charged.push(touch)
        first ??= admitted ? undefined : touch
        const into = admitted ? kept : left
        into[table] ??= { ...request, Keys: [] }
        into[table].Keys.push(key)
      }
    }
    // An answer's size is shared among the keys it was asked for.
    const charge = (bytes: number) => {
      for (const touch of charged) {
        const extra = capacityUnits.read(bytes / charged.length, 1, touch.units) - touch.units
        if (extra > 0) this.reads.spend(touch.partition, rate, extra)
      }
    }
    const admission = this.cutShort(input, kept, left, first, 'Read', 'UnprocessedKeys', charge)
    return admission ?? { charge }
  }

  /** A batch's admission: undefined when all of it goes, refused when none does, else cut short. */
  private cutShort(
    input: Record<string, unknown>,
    kept: Record<string, unknown>,
    left: Record<string, unknown>,
    first: Touch | undefined,
    kind: 'Read' | 'Write',
    field: 'UnprocessedKeys' | 'UnprocessedItems',
    charge?: (bytes: number) => void,
  ): Admission | undefined {
    if (first === undefined) return undefined
    this.count(kind)
    if (Object.keys(kept).length === 0) return { refusal: throughputExceeded(first, kind) }
    return {
      cut: {
        input: { ...input, RequestItems: kept },
        answer: (output) => {
          charge?.(JSON.stringify(output).length)
          const unprocessed = isRecord(output[field]) ? { ...output[field] } : {}
          for (const [table, entry] of Object.entries(left)) {
            const already = unprocessed[table]
            if (Array.isArray(entry)) {
              unprocessed[table] = [...(Array.isArray(already) ? already : []), ...entry]
            } else if (isRecord(entry)) {
              const keys = isRecord(already) && Array.isArray(already.Keys) ? already.Keys : []
              unprocessed[table] = { ...entry, Keys: [...keys, ...(entry.Keys as unknown[])] }
            }
          }
          return { ...output, [field]: unprocessed }
        },
      },
    }
  }

  private count(kind: 'Read' | 'Write'): void {
    if (kind === 'Read') this.counters.throttledReads++
    else this.counters.throttledWrites++
  }
}

/** Counts an answer's bytes as they pass and gives the total to `charge` at its end. */
export function meterAnswer(answer: IncomingMessage, charge: (bytes: number) => void): void {
  let bytes = 0
  answer.on('data', (chunk: Buffer) => {
    bytes += chunk.length
  })
  answer.once('end', () => charge(bytes))
}

/** 400 ProvisionedThroughputExceededException, as DynamoDB answers a throttled call, with its reason. */
function throughputExceeded(touch: Touch, kind: 'Read' | 'Write'): DynamoRefusal {
  const [table = '', index] = JSON.parse(touch.partition) as [string, string | null]
  const arn = `arn:aws:dynamodb:${localAccount.region}:${localAccount.id}:table/${table}`
  return {
    body: {
      __type: `${dynamoErrorPrefix}ProvisionedThroughputExceededException`,
      message: touch.index ? indexMessage : tableMessage,
      ThrottlingReasons: [
        {
          reason: `${touch.index ? 'Index' : 'Table'}${kind}KeyRangeThroughputExceeded`,
          resource: index ? `${arn}/index/${index}` : arn,
        },
      ],
    },
  }
}

/** A partition's bucket key: the table, the index (null for the table) and the partition key's value. */
function partitionOf(table: unknown, index: string | undefined, value: unknown): string | undefined {
  if (typeof table !== 'string' || value === undefined) return undefined
  const name = table.startsWith('arn:') ? (table.split(':table/')[1] ?? table) : table
  return JSON.stringify([name, index ?? null, value])
}

function writeTouch(body: Record<string, unknown>, kind: 'write' | 'transaction'): Touch | undefined {
  const attributes = body.Item ?? body.Key
  const partition = partitionOf(body.TableName, undefined, isRecord(attributes) ? attributes[pk] : undefined)
  if (partition === undefined) return undefined
  const carried = body.Item ?? { Key: body.Key, Values: body.ExpressionAttributeValues }
  return {
    partition,
    units: capacityUnits.write(JSON.stringify(carried).length, kind === 'transaction'),
    index: false,
  }
}

/** A GetItem's partition; its units are the least it costs (its factor). */
function getTouch(input: Record<string, unknown>): Touch | undefined {
  const partition = partitionOf(input.TableName, undefined, isRecord(input.Key) ? input.Key[pk] : undefined)
  return partition === undefined
    ? undefined
    : { partition, units: readFactor(input.ConsistentRead === true), index: false }
}

/** A Query's partition, from the equality on the partition key in its KeyConditionExpression. */
function queryTouch(input: Record<string, unknown>): Touch | undefined {
  const index = typeof input.IndexName === 'string' ? input.IndexName : undefined
  const keyName =
    index === undefined ? pk : index === userIndex.indexName ? userIndex.partitionKey : undefined
  const names = isRecord(input.ExpressionAttributeNames) ? input.ExpressionAttributeNames : {}
  const values = isRecord(input.ExpressionAttributeValues) ? input.ExpressionAttributeValues : {}
  const expression = typeof input.KeyConditionExpression === 'string' ? input.KeyConditionExpression : ''
  for (const clause of expression.split(/\s+AND\s+/i)) {
    const [, name = '', value = ''] = /^\s*\(?\s*([#\w.]+)\s*=\s*(:\w+)\s*\)?\s*$/.exec(clause) ?? []
    if (keyName === undefined || (name.startsWith('#') ? names[name] : name) !== keyName) continue
    const partition = partitionOf(input.TableName, index, values[value])
    if (partition === undefined) return undefined
    // An index is read eventually consistent whatever the request says.
    const consistent = index === undefined && input.ConsistentRead === true
    return { partition, units: readFactor(consistent), index: index !== undefined }
  }
  return undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
