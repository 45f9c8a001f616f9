import { itemKey } from './stale-reads.js'

/** The ways AWS fails that the emulators do not, reproduced by the access proxies (DESIGN.md §9, docs/testing.md). */
export interface AwsBehaviours {
  /**
   * Transactions that overlap on an item (as DynamoDB decides: a TransactWriteItems touching an item another
   * in-flight transaction touches) cancel with TransactionConflict, and a PutItem/UpdateItem/DeleteItem on an
   * item inside an in-flight transaction answers TransactionConflictException.
   */
  conflicts: boolean
  /**
   * Milliseconds a TransactWriteItems keeps its items from others once it begins, about what one takes on
   * DynamoDB, whatever DynamoDB Local's own time on a loaded machine.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling
   */
  transactionWindowMs: number
  /**
   * A fraction (0–1) of TransactWriteItems cancelled with TransactionConflict even without an overlap, so that
   * retries are exercised at test rates.
   */
  conflictRate: number
  /**
   * S3 answers 403 AccessDenied, not 404 NoSuchKey, for a missing key to a caller the grants do not allow
   * s3:ListBucket.
   */
  s3MissingKeyDenied: boolean
  /**
   * How many milliseconds of writes an eventually consistent read (GetItem, Query or BatchGetItem without
   * ConsistentRead, and every read of an index) may miss: it may be served by a replica that has not applied
   * them yet, and sees the items as they were (local/stale-reads.ts; 0 = reads are always current).
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html
   */
  staleReadLagMs: number
  /** The fraction (0–1) of eventually consistent reads served by that lagging replica. */
  staleReadRate: number
  /**
   * API Gateway's request rate for the account, which covers the management API's @connections calls (POST,
   * GET, DELETE): a token bucket refilled at this many calls a second (AWS: 10,000), past which a call is
   * answered 429 LimitExceededException {"message":"Too Many Requests"} (0 = no limit).
   * https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
   */
  callbackRatePerSecond: number
  /** That bucket's size: the calls that may come at once (AWS: a burst of 5,000). Same page. */
  callbackBurst: number
  /**
   * New WebSocket connections a second for the account (AWS: 500): a handshake past it is refused 429 before
   * the authorizer runs (0 = no limit). Same page.
   */
  connectionsPerSecond: number
  /**
   * Milliseconds the gateway waits for a route's function (AWS: 29,000) before it sends the client
   * {"message": "Endpoint request timed out", …} and drops the function's later reply, as API Gateway does;
   * the function runs on to its own timeout (0 = the gateway waits for it). Same page.
   */
  integrationTimeoutMs: number
  /**
   * Invocations of all the functions running at once (Lambda's default quota: 1,000 for the account): past it
   * a synchronous invoke is throttled (429 TooManyRequestsException; through the gateway, the client gets its
   * error frame and a $connect is refused 500) and an asynchronous event stays queued, retried until a slot
   * frees, never lost (0 = no limit). https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html and
   * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
   */
  concurrency: number
  /**
   * Read units a second each partition serves (AWS: 3,000), per PK value of the table and per GSI1PK value
   * of the index: a token bucket holding a second's worth, past which a read answers 400
   * ProvisionedThroughputExceededException and a BatchGetItem leaves the throttled keys in UnprocessedKeys
   * (0 = no limit; units as local/partition-limits.ts approximates them).
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html and
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
   */
  partitionReadUnits: number
  /**
   * Write units a second each partition serves (AWS: 1,000): past it a write answers
   * ProvisionedThroughputExceededException, a TransactWriteItems is cancelled with ThrottlingError on the
   * throttled items, and a BatchWriteItem leaves them in UnprocessedItems (0 = no limit). Same pages.
   */
  partitionWriteUnits: number
  /**
   * Seconds past its `ttl` an item stays in the table (and is read like any other) before the local stack's
   * sweeper deletes it: DynamoDB deletes expired items lazily, typically within a few days (0 = never, as
   * DynamoDB Local on its own). local/ttl-sweeper.ts;
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
   */
  ttlSweepAfterSeconds: number
}

/** AWS's request rate for an account and region, shared by every API Gateway call, callbacks included. */
export const awsAccountRequestRate = 10_000

/** On: what tests, `npm run load` and `npm start` use unless told otherwise. */
export const awsLikeBehaviours: AwsBehaviours = {
  conflicts: true,
  transactionWindowMs: 15,
  conflictRate: 0.05,
  s3MissingKeyDenied: true,
  staleReadLagMs: 100,
  staleReadRate: 0.5,
  callbackRatePerSecond: 5000,
  callbackBurst: 2500,
  connectionsPerSecond: 500,
  integrationTimeoutMs: 29_000,
  concurrency: 1000,
  partitionReadUnits: 3000,
  partitionWriteUnits: 1000,
  ttlSweepAfterSeconds: 600,
}

/** Off: the emulators as they are. */
export const noBehaviours: AwsBehaviours = {
  conflicts: false,
  transactionWindowMs: 0,
  conflictRate: 0,
  s3MissingKeyDenied: false,
  staleReadLagMs: 0,
  staleReadRate: 0,
  callbackRatePerSecond: 0,
  callbackBurst: 0,
  connectionsPerSecond: 0,
  integrationTimeoutMs: 0,
  concurrency: 0,
  partitionReadUnits: 0,
  partitionWriteUnits: 0,
  ttlSweepAfterSeconds: 0,
}

/** What the proxies injected, for tests and `npm run load` to read. */
export interface AwsBehaviourCounters {
  /** TransactWriteItems cancelled because they overlapped an in-flight transaction on an item. */
  overlapConflicts: number
  /** Plain writes answered TransactionConflictException because their item was inside an in-flight transaction. */
  writeConflicts: number
  /** TransactWriteItems cancelled at random (conflictRate) without an overlap. */
  injectedConflicts: number
  /** 404 NoSuchKey answers turned into 403 AccessDenied for a caller without s3:ListBucket. */
  missingKeyDenials: number
  /** Eventually consistent reads answered with an item as it was before a recent write. */
  staleReads: number
  /** Management API calls answered 429 past the account's request rate. */
  callbackThrottles: number
  /** Handshakes refused 429 past the new connections a second. */
  connectThrottles: number
  /** Requests whose function the gateway stopped waiting for (integrationTimeoutMs); its reply was dropped. */
  integrationTimeouts: number
  /** Synchronous invocations refused past the concurrency limit. */
  throttledInvocations: number
  /** Asynchronous events kept queued for a while because every slot of the concurrency limit was taken. */
  delayedEvents: number
  /** Reads refused, or batches of reads cut short, past a partition's read units. */
  throttledReads: number
  /** Writes refused, transactions cancelled, or batches of writes cut short, past a partition's write units. */
  throttledWrites: number
  /** Expired items the TTL sweeper deleted. */
  sweptItems: number
}

export function newCounters(): AwsBehaviourCounters {
  return {
    overlapConflicts: 0,
    writeConflicts: 0,
    injectedConflicts: 0,
    missingKeyDenials: 0,
    staleReads: 0,
    callbackThrottles: 0,
    connectThrottles: 0,
    integrationTimeouts: 0,
    throttledInvocations: 0,
    delayedEvents: 0,
    throttledReads: 0,
    throttledWrites: 0,
    sweptItems: 0,
  }
}

/** The behaviours with the given overrides over awsLikeBehaviours. */
export function resolveBehaviours(overrides: Partial<AwsBehaviours> = {}): AwsBehaviours {
  return { ...awsLikeBehaviours, ...overrides }
}

const dynamoErrorPrefix = 'com.amazonaws.dynamodb.v20120810#'
const conflictMessage = 'Transaction is ongoing for the item'

/** An answer the DynamoDB proxy gives instead of forwarding: status 400 and DynamoDB's JSON body. */
export interface DynamoRefusal {
  body: Record<string, unknown>
}

/**
 * The items of in-flight TransactWriteItems, by table and key (as DynamoDB decides an overlap), and what a
 * transaction or a plain write meets when it touches one of them.
 */
export class InFlightTransactions {
  private readonly items = new Map<string, number>()

  constructor(
    private readonly behaviours: AwsBehaviours,
    readonly counters: AwsBehaviourCounters,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * A TransactWriteItems about to be forwarded: its cancellation (TransactionCanceledException with a
   * TransactionConflict reason on each overlapping item, or on one item at random at `conflictRate`), or
   * undefined, its items then held for `transactionWindowMs`.
   */
  begin(input: unknown): DynamoRefusal | undefined {
    const keys = transactionItemKeys(input)
    const overlapping = this.behaviours.conflicts ? keys.map((key) => this.items.has(key)) : []
    if (overlapping.some(Boolean)) {
      this.counters.overlapConflicts++
      return cancellation(keys.map((_, i) => overlapping[i] === true))
    }
    if (keys.length > 0 && this.random() < this.behaviours.conflictRate) {
      this.counters.injectedConflicts++
      const conflicting = Math.floor(this.random() * keys.length)
      return cancellation(keys.map((_, i) => i === conflicting))
    }
    const { conflicts, transactionWindowMs } = this.behaviours
    if (!conflicts || transactionWindowMs <= 0) return undefined
    for (const key of keys) this.items.set(key, (this.items.get(key) ?? 0) + 1)
    setTimeout(() => {
      for (const key of keys) {
        const count = (this.items.get(key) ?? 1) - 1
        if (count > 0) this.items.set(key, count)
        else this.items.delete(key)
      }
    }, transactionWindowMs).unref()
    return undefined
  }

  /** A PutItem, UpdateItem or DeleteItem: TransactionConflictException when its item is inside a transaction. */
  write(input: unknown): DynamoRefusal | undefined {
    if (!this.behaviours.conflicts) return undefined
    const key = plainWriteKey(input)
    if (key === undefined || !this.items.has(key)) return undefined
    this.counters.writeConflicts++
    return {
      body: { __type: `${dynamoErrorPrefix}TransactionConflictException`, message: conflictMessage },
    }
  }
}

function cancellation(conflicting: readonly boolean[]): DynamoRefusal {
  const codes = conflicting.map((conflict) => (conflict ? 'TransactionConflict' : 'None'))
  return {
    body: {
      __type: `${dynamoErrorPrefix}TransactionCanceledException`,
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
      CancellationReasons: codes.map((Code) =>
        Code === 'None' ? { Code } : { Code, Message: conflictMessage },
      ),
    },
  }
}

/** Each TransactItem's item, as "table|key attributes" (Put by its Item's key attributes, the others by Key). */
export function transactionItemKeys(input: unknown): string[] {
  const items = isRecord(input) && Array.isArray(input.TransactItems) ? input.TransactItems : []
  return items.flatMap((item: unknown) => {
    if (!isRecord(item)) return []
    const [kind, body] = Object.entries(item)[0] ?? []
    if (!isRecord(body)) return []
    const key = itemKey(body.TableName, kind === 'Put' ? body.Item : body.Key)
    return key === undefined ? [] : [key]
  })
}

function plainWriteKey(input: unknown): string | undefined {
  if (!isRecord(input)) return undefined
  return itemKey(input.TableName, input.Item ?? input.Key)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The environment variables `npm start` reads, each turning one behaviour up, down or off. */
export const awsBehaviourVariables = {
  conflicts: 'HUDDLE_AWS_CONFLICTS',
  transactionWindowMs: 'HUDDLE_AWS_TRANSACTION_WINDOW_MS',
  conflictRate: 'HUDDLE_AWS_CONFLICT_RATE',
  s3MissingKeyDenied: 'HUDDLE_AWS_S3_MISSING_KEY_DENIED',
  staleReadLagMs: 'HUDDLE_AWS_STALE_READ_LAG_MS',
  staleReadRate: 'HUDDLE_AWS_STALE_READ_RATE',
  callbackRatePerSecond: 'HUDDLE_AWS_CALLBACK_RATE',
  callbackBurst: 'HUDDLE_AWS_CALLBACK_BURST',
  connectionsPerSecond: 'HUDDLE_AWS_CONNECT_RATE',
  integrationTimeoutMs: 'HUDDLE_AWS_INTEGRATION_TIMEOUT_MS',
  concurrency: 'HUDDLE_AWS_CONCURRENCY',
  partitionReadUnits: 'HUDDLE_AWS_PARTITION_READ_UNITS',
  partitionWriteUnits: 'HUDDLE_AWS_PARTITION_WRITE_UNITS',
  ttlSweepAfterSeconds: 'HUDDLE_AWS_TTL_SWEEP_AFTER_SECONDS',
} as const satisfies Record<keyof AwsBehaviours, string>

/** The behaviours set by a number. */
type NumericBehaviour = {
  [K in keyof AwsBehaviours]: AwsBehaviours[K] extends number ? K : never
}[keyof AwsBehaviours]

/**
 * The behaviours set by the environment: HUDDLE_AWS=off turns them all off, each variable above sets one
 * (on/off for the switches, a number for the others); a value that is neither throws, naming the variable.
 */
export function behavioursFromEnvironment(env: Record<string, string | undefined>): Partial<AwsBehaviours> {
  const base: Partial<AwsBehaviours> = switchOf('HUDDLE_AWS', env.HUDDLE_AWS) === false ? noBehaviours : {}
  const result: Partial<AwsBehaviours> = { ...base }
  const flag = (key: 'conflicts' | 's3MissingKeyDenied') => {
    const value = switchOf(awsBehaviourVariables[key], env[awsBehaviourVariables[key]])
    if (value !== undefined) result[key] = value
  }
  const number = (key: NumericBehaviour, max: number) => {
    const name = awsBehaviourVariables[key]
    const text = env[name]
    if (text === undefined || text === '') return
    const value = text === 'off' ? 0 : Number(text)
    if (!Number.isFinite(value) || value < 0 || value > max) {
      throw new Error(`${name} must be a number from 0 to ${max} (or off), not "${text}"`)
    }
    result[key] = value
  }
  flag('conflicts')
  flag('s3MissingKeyDenied')
  number('transactionWindowMs', 60_000)
  number('conflictRate', 1)
  number('staleReadLagMs', 60_000)
  number('staleReadRate', 1)
  number('callbackRatePerSecond', 1_000_000)
  number('callbackBurst', 1_000_000)
  number('connectionsPerSecond', 100_000)
  number('integrationTimeoutMs', 900_000)
  number('concurrency', 100_000)
  number('partitionReadUnits', 1_000_000)
  number('partitionWriteUnits', 1_000_000)
  number('ttlSweepAfterSeconds', 30 * 86_400)
  return result
}

function switchOf(name: string, text: string | undefined): boolean | undefined {
  if (text === undefined || text === '') return undefined
  if (['on', 'true', '1'].includes(text)) return true
  if (['off', 'false', '0'].includes(text)) return false
  throw new Error(`${name} must be on or off, not "${text}"`)
}

/** One line saying which behaviours are on, for `npm start` and `npm run load`. */
export function describeBehaviours(b: AwsBehaviours): string {
  return [
    `transaction conflicts ${b.conflicts ? `on (${b.transactionWindowMs} ms a transaction)` : 'off'}`,
    `injected conflicts ${b.conflictRate > 0 ? `${b.conflictRate * 100}%` : 'off'}`,
    `S3 missing key → 403 ${b.s3MissingKeyDenied ? 'on' : 'off'}`,
    `stale reads ${b.staleReadLagMs > 0 && b.staleReadRate > 0 ? `${b.staleReadRate * 100}% up to ${b.staleReadLagMs} ms behind` : 'off'}`,
    `callback rate ${b.callbackRatePerSecond > 0 ? `${b.callbackRatePerSecond}/s (burst ${b.callbackBurst})` : 'off'}`,
    `new connections ${b.connectionsPerSecond > 0 ? `${b.connectionsPerSecond}/s` : 'off'}`,
    `integration timeout ${b.integrationTimeoutMs > 0 ? `${b.integrationTimeoutMs} ms` : 'off'}`,
    `Lambda concurrency ${b.concurrency > 0 ? b.concurrency : 'off'}`,
    `partition reads ${b.partitionReadUnits > 0 ? `${b.partitionReadUnits} units/s` : 'off'}`,
    `partition writes ${b.partitionWriteUnits > 0 ? `${b.partitionWriteUnits} units/s` : 'off'}`,
    `expired items swept ${b.ttlSweepAfterSeconds > 0 ? `${b.ttlSweepAfterSeconds} s after their ttl` : 'never'}`,
  ].join(', ')
}

/** One line of what was injected. */
export function describeCounters(c: AwsBehaviourCounters): string {
  return (
    `${c.overlapConflicts} transactions cancelled on an overlap, ${c.writeConflicts} writes refused inside a ` +
    `transaction, ${c.injectedConflicts} transactions cancelled at random, ${c.missingKeyDenials} missing keys answered 403, ${c.staleReads} reads served stale` +
    `, ${c.callbackThrottles} callbacks answered 429, ${c.connectThrottles} connections refused 429, ` +
    `${c.integrationTimeouts} integrations timed out, ${c.throttledInvocations} invocations throttled, ` +
    `${c.delayedEvents} events held for concurrency, ${c.throttledReads} reads and ` +
    `${c.throttledWrites} writes throttled on a partition, ${c.sweptItems} expired items swept`
  )
}
