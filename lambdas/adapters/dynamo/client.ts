import { AwsRequestError, SignedHttp, type SignedHttpOptions } from '../signed-http.js'
import { type AttributeValue, type Item, marshallItem, unmarshallItem } from './marshall.js'

export type { Item }

/** What every write may say: a condition, the names and values its expressions use. */
interface Conditional {
  TableName: string
  ConditionExpression?: string
  ExpressionAttributeNames?: Record<string, string>
  ExpressionAttributeValues?: Item
  /** ALL_OLD: a failed condition's error carries the item as it was. */
  ReturnValuesOnConditionCheckFailure?: 'ALL_OLD' | 'NONE'
}

export interface GetItemInput {
  TableName: string
  Key: Item
  ConsistentRead?: boolean
  ProjectionExpression?: string
  ExpressionAttributeNames?: Record<string, string>
}

export interface PutItemInput extends Conditional {
  Item: Item
  ReturnValues?: 'NONE' | 'ALL_OLD'
}

export interface UpdateItemInput extends Conditional {
  Key: Item
  UpdateExpression: string
  ReturnValues?: 'NONE' | 'ALL_OLD' | 'UPDATED_OLD' | 'ALL_NEW' | 'UPDATED_NEW'
}

export interface DeleteItemInput extends Conditional {
  Key: Item
  ReturnValues?: 'NONE' | 'ALL_OLD'
}

export interface ConditionCheckInput extends Conditional {
  Key: Item
  ConditionExpression: string
}

export interface QueryInput {
  TableName: string
  IndexName?: string
  KeyConditionExpression: string
  FilterExpression?: string
  ProjectionExpression?: string
  ExpressionAttributeNames?: Record<string, string>
  ExpressionAttributeValues?: Item
  ConsistentRead?: boolean
  ScanIndexForward?: boolean
  Limit?: number
  Select?: 'ALL_ATTRIBUTES' | 'ALL_PROJECTED_ATTRIBUTES' | 'SPECIFIC_ATTRIBUTES' | 'COUNT'
  ExclusiveStartKey?: Item
}

export interface QueryOutput {
  /** Empty when the query only counts (Select COUNT). */
  Items: Item[]
  Count: number
  /** Where the next page starts; absent on the last page. */
  LastEvaluatedKey?: Item
}

/** The keys to read of one table, and how. */
export interface KeysAndAttributes {
  Keys: Item[]
  ProjectionExpression?: string
  ExpressionAttributeNames?: Record<string, string>
  ConsistentRead?: boolean
}

export interface BatchGetItemInput {
  RequestItems: Record<string, KeysAndAttributes>
}

export interface BatchGetItemOutput {
  Responses: Record<string, Item[]>
  /** What DynamoDB did not read this time (too much at once, or throttled), to ask for again. */
  UnprocessedKeys: Record<string, KeysAndAttributes>
}

/** One entry of a TransactWriteItems call: exactly one of these. */
export interface TransactItem {
  ConditionCheck?: ConditionCheckInput
  Put?: PutItemInput
  Update?: UpdateItemInput
  Delete?: DeleteItemInput
}

/** Why DynamoDB cancelled one item of a transaction ("None" for the items that were fine). */
export interface CancellationReason {
  Code?: string
  Message?: string
  /** The item as it was, when its condition failed and ReturnValuesOnConditionCheckFailure asked for it. */
  Item?: Item
}

/**
 * An error DynamoDB answered, named by its type (ConditionalCheckFailedException, TransactionCanceledException…)
 * as the SDK names it, with what its document says of the items.
 */
export class DynamoError extends AwsRequestError {
  /** The item as it was, when a write's condition failed and ReturnValuesOnConditionCheckFailure asked for it. */
  readonly Item: Item | undefined
  /** A cancelled transaction's reasons, one per item, in the transaction's order. */
  readonly CancellationReasons: CancellationReason[] | undefined

  constructor(error: AwsRequestError) {
    super(error.errorType, error.status, error.attempts, error.message, {
      cause: error.cause,
      ...(error.document && { document: error.document }),
    })
    const { Item, CancellationReasons } = error.document ?? {}
    this.Item = isWireItem(Item) ? unmarshallItem(Item) : undefined
    this.CancellationReasons = Array.isArray(CancellationReasons)
      ? CancellationReasons.map(cancellationReason)
      : undefined
  }
}

/** One call as it goes out: its operation and its request in DynamoDB's JSON, which may still be added to. */
export interface DynamoCall {
  operation: string
  request: Record<string, unknown>
}

/** What a call got back: DynamoDB's JSON answer and the HTTP attempts it took. */
export interface DynamoAnswer {
  output: Record<string, unknown>
  attempts: number
}

/** Sees every call on its way (`next` sends it): what benchmarks and tests count and measure. */
export type DynamoInterceptor = (call: DynamoCall, next: () => Promise<DynamoAnswer>) => Promise<DynamoAnswer>

/** Told of each write sent again after a conflict or throttling, and of one that gave up (wiring counts them). */
export interface ConflictObserver {
  retried?(operation: string, attempt: number): void
  exhausted?(operation: string, attempts: number, error: DynamoError): void
}

/** How writes that met a transaction conflict are retried: jittered exponential backoff, capped. */
export interface ConflictRetry {
  /** Attempts in all, the first included (10). */
  maxAttempts: number
  /** The backoff's base (20 ms) and cap (1 s): a hot group item sees many writers at once. */
  baseMs: number
  capMs: number
}

// Many short waits rather than a few long ones: a busy group's transactions each hold its item for tens of
// milliseconds, so a flood of writes into one group clears in well under a second when retried often.
export const defaultConflictRetry: ConflictRetry = { maxAttempts: 16, baseMs: 20, capMs: 500 }

export interface DynamoClientOptions
  extends Pick<SignedHttpOptions, 'region' | 'credentials' | 'maxSockets' | 'maxAttempts' | 'sleep'> {
  /** An emulator's endpoint; DynamoDB's own in the region when absent. */
  endpoint?: string
  intercept?: DynamoInterceptor
  conflictRetry?: Partial<ConflictRetry>
  onConflict?: ConflictObserver
}

/** Writes DynamoDB may refuse because of a transaction in flight on their item. */
const conflictingWrites = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems'])

/** The reasons a transaction may be cancelled for that sending it again can cure (None: the item was fine). */
const retriableReasons = new Set([
  'None',
  'NONE',
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
])

/**
 * Whether a write failed only because it overlapped a transaction or met a busy partition, so that it applied
 * nothing and may be sent again: a plain write into a running transaction (TransactionConflictException), or
 * a transaction cancelled only for conflicts or throttling (a failed condition is an answer, not a race). The
 * SDK retries neither.
 */
export function isTransactionConflict(error: unknown): error is DynamoError {
  if (!(error instanceof DynamoError)) return false
  if (error.errorType === 'TransactionConflictException') return true
  const reasons = error.CancellationReasons
  return (
    error.errorType === 'TransactionCanceledException' &&
    reasons !== undefined &&
    reasons.some((reason) => reason.Code !== 'None' && reason.Code !== 'NONE') &&
    reasons.every((reason) => retriableReasons.has(reason.Code ?? ''))
  )
}

/**
 * DynamoDB's JSON protocol over SignedHttp, for the operations the adapters use: it takes and returns
 * plain JS values as the SDK's document client does (marshall.ts), retries as the SDK's DynamoDB client
 * does (standard mode, 4 attempts, from 25 ms), and throws a DynamoError named by DynamoDB's error type.
 */
export class DynamoClient {
  private readonly http: SignedHttp
  private readonly intercept: DynamoInterceptor | undefined
  private readonly conflictRetry: ConflictRetry
  private readonly onConflict: ConflictObserver
  private readonly sleep: (ms: number) => Promise<void>

  constructor(options: DynamoClientOptions) {
    this.http = new SignedHttp({
      endpoint: options.endpoint ?? regionalEndpoint(options.region),
      service: 'dynamodb',
      region: options.region,
      credentials: options.credentials,
      // The SDK's own defaults for DynamoDB (its HTTP handler keeps 50 sockets).
      maxSockets: options.maxSockets ?? 50,
      maxAttempts: options.maxAttempts ?? 4,
      retryBaseMs: 25,
      ...(options.sleep && { sleep: options.sleep }),
    })
    this.intercept = options.intercept
    this.conflictRetry = { ...defaultConflictRetry, ...options.conflictRetry }
    this.onConflict = options.onConflict ?? {}
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  async getItem(input: GetItemInput): Promise<{ Item?: Item }> {
    const output = await this.call('GetItem', withItems(input))
    return { Item: itemOf(output.Item) }
  }

  async putItem(input: PutItemInput): Promise<{ Attributes?: Item }> {
    const output = await this.call('PutItem', withItems(input))
    return { Attributes: itemOf(output.Attributes) }
  }

  async updateItem(input: UpdateItemInput): Promise<{ Attributes?: Item }> {
    const output = await this.call('UpdateItem', withItems(input))
    return { Attributes: itemOf(output.Attributes) }
  }

  async deleteItem(input: DeleteItemInput): Promise<{ Attributes?: Item }> {
    const output = await this.call('DeleteItem', withItems(input))
    return { Attributes: itemOf(output.Attributes) }
  }

  /** One page of a query. */
  async query(input: QueryInput): Promise<QueryOutput> {
    const output = await this.call('Query', withItems(input))
    const items = Array.isArray(output.Items) ? output.Items.filter(isWireItem).map(unmarshallItem) : []
    const last = itemOf(output.LastEvaluatedKey)
    return {
      Items: items,
      Count: typeof output.Count === 'number' ? output.Count : items.length,
      ...(last && { LastEvaluatedKey: last }),
    }
  }

  /** Every page of a query, one at a time, each from where the one before stopped. */
  async *queryPages(input: QueryInput): AsyncGenerator<QueryOutput> {
    let start = input.ExclusiveStartKey
    do {
      const page = await this.query({ ...input, ...(start && { ExclusiveStartKey: start }) })
      yield page
      start = page.LastEvaluatedKey
    } while (start !== undefined)
  }

  async batchGetItem(input: BatchGetItemInput): Promise<BatchGetItemOutput> {
    const output = await this.call('BatchGetItem', {
      RequestItems: mapValues(input.RequestItems, (keys) => ({ ...keys, Keys: keys.Keys.map(marshallItem) })),
    })
    const responses = (output.Responses ?? {}) as Record<string, unknown[]>
    const unprocessed = (output.UnprocessedKeys ?? {}) as Record<string, { Keys?: unknown[] }>
    return {
      Responses: mapValues(responses, (items) => items.filter(isWireItem).map(unmarshallItem)),
      UnprocessedKeys: mapValues(unprocessed, (keys) => ({
        ...keys,
        Keys: (keys.Keys ?? []).filter(isWireItem).map(unmarshallItem),
      })),
    }
  }

  /** Writes every item or none; a failed condition throws TransactionCanceledException with its reasons. */
  async transactWriteItems(input: { TransactItems: TransactItem[] }): Promise<void> {
    await this.call('TransactWriteItems', {
      TransactItems: input.TransactItems.map((entry) =>
        Object.fromEntries(
          Object.entries(entry).flatMap(([kind, action]) => (action ? [[kind, withItems(action)]] : [])),
        ),
      ),
    })
  }

  /** Closes the kept-open connections (benchmarks, tests); a Lambda function never needs to. */
  close(): void {
    this.http.close()
  }

  /** Sends a call; a write that met a transaction conflict applied nothing, so it is sent again after a backoff. */
  private async call(operation: string, request: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!conflictingWrites.has(operation)) return this.callOnce(operation, request)
    const { maxAttempts, baseMs, capMs } = this.conflictRetry
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce(operation, request)
      } catch (error) {
        if (!isTransactionConflict(error)) throw error
        if (attempt >= maxAttempts) {
          this.onConflict.exhausted?.(operation, attempt, error)
          throw error
        }
        this.onConflict.retried?.(operation, attempt)
        // Full jitter, so that the transactions that collided do not collide again.
        await this.sleep(Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** (attempt - 1))))
      }
    }
  }

  private async callOnce(
    operation: string,
    request: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const send = async (): Promise<DynamoAnswer> => {
      try {
        const answer = await this.http.send(operation, {
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `DynamoDB_20120810.${operation}`,
          },
          body: Buffer.from(JSON.stringify(request), 'utf8'),
        })
        return {
          output: JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>,
          attempts: answer.attempts,
        }
      } catch (error) {
        throw error instanceof AwsRequestError && error.status !== undefined ? new DynamoError(error) : error
      }
    }
    return (this.intercept ? await this.intercept({ operation, request }, send) : await send()).output
  }
}

/** DynamoDB's own endpoint in `region` (China's regions are under amazonaws.com.cn). */
export function regionalEndpoint(region: string): string {
  return `https://dynamodb.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`
}

/** The fields of an input that hold items or values, in DynamoDB's JSON. */
const itemFields = ['Key', 'Item', 'ExpressionAttributeValues', 'ExclusiveStartKey'] as const

function withItems(input: object): Record<string, unknown> {
  const request: Record<string, unknown> = { ...input }
  for (const field of itemFields) {
    const value = request[field]
    if (value !== undefined) request[field] = marshallItem(value as Item)
  }
  return request
}

function isWireItem(value: unknown): value is Record<string, AttributeValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function itemOf(value: unknown): Item | undefined {
  return isWireItem(value) ? unmarshallItem(value) : undefined
}

function cancellationReason(reason: unknown): CancellationReason {
  const { Code, Message, Item } = (isWireItem(reason) ? reason : {}) as Record<string, unknown>
  return {
    ...(typeof Code === 'string' && { Code }),
    ...(typeof Message === 'string' && { Message }),
    ...(isWireItem(Item) && { Item: unmarshallItem(Item) }),
  }
}

function mapValues<T, U>(record: Record<string, T>, convert: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, convert(value)]))
}
