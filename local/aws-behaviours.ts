import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'

/** The ways AWS fails that the emulators do not, reproduced by the access proxies (DESIGN.md §9, docs/testing.md). */
export interface AwsBehaviours {
  /** Transactions that overlap on an item (as DynamoDB decides: a TransactWriteItems touching an item another in-flight transaction touches) cancel with TransactionConflict, and a PutItem/UpdateItem/DeleteItem on an item inside an in-flight transaction answers TransactionConflictException. */
  conflicts: boolean
  /** Milliseconds the DynamoDB proxy holds each TransactWriteItems before forwarding it, widening the window in which concurrent ones overlap (0 = none). */
  transactionHoldMs: number
  /** A fraction (0–1) of TransactWriteItems cancelled with TransactionConflict even without an overlap, so that retries are exercised at test rates. */
  conflictRate: number
  /** S3 answers 403 AccessDenied, not 404 NoSuchKey, for a missing key to a caller the grants do not allow s3:ListBucket. */
  s3MissingKeyDenied: boolean
}

/** On: what tests, `npm run load` and `npm start` use unless told otherwise. */
export const awsLikeBehaviours: AwsBehaviours = {
  conflicts: true,
  transactionHoldMs: 2,
  conflictRate: 0.05,
  s3MissingKeyDenied: true,
}

/** Off: the emulators as they are. */
export const noBehaviours: AwsBehaviours = {
  conflicts: false,
  transactionHoldMs: 0,
  conflictRate: 0,
  s3MissingKeyDenied: false,
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
}

export function newCounters(): AwsBehaviourCounters {
  return { overlapConflicts: 0, writeConflicts: 0, injectedConflicts: 0, missingKeyDenials: 0 }
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
   * A TransactWriteItems about to be forwarded: either its cancellation (TransactionCanceledException with a
   * TransactionConflict reason on each overlapping item, or on one item at random at `conflictRate`), or the
   * release to call once DynamoDB has answered it, its items held until then.
   */
  begin(input: unknown): { refusal: DynamoRefusal } | { release: () => void } {
    const keys = transactionItemKeys(input)
    const overlapping = this.behaviours.conflicts ? keys.map((key) => this.items.has(key)) : []
    if (overlapping.some(Boolean)) {
      this.counters.overlapConflicts++
      return { refusal: cancellation(keys.map((_, i) => overlapping[i] === true)) }
    }
    if (keys.length > 0 && this.random() < this.behaviours.conflictRate) {
      this.counters.injectedConflicts++
      const conflicting = Math.floor(this.random() * keys.length)
      return { refusal: cancellation(keys.map((_, i) => i === conflicting)) }
    }
    if (!this.behaviours.conflicts) return { release: () => {} }
    for (const key of keys) this.items.set(key, (this.items.get(key) ?? 0) + 1)
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        for (const key of keys) {
          const count = (this.items.get(key) ?? 1) - 1
          if (count > 0) this.items.set(key, count)
          else this.items.delete(key)
        }
      },
    }
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

function itemKey(table: unknown, attributes: unknown): string | undefined {
  if (typeof table !== 'string' || !isRecord(attributes)) return undefined
  const name = table.startsWith('arn:') ? (table.split(':table/')[1] ?? table) : table
  const { partitionKey, sortKey } = tableSchema
  return JSON.stringify([name, attributes[partitionKey] ?? null, attributes[sortKey] ?? null])
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
