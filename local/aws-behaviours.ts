import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'

/** The ways AWS fails that the emulators do not, reproduced by the access proxies (DESIGN.md §9, docs/testing.md). */
export interface AwsBehaviours {
  /**
   * Transactions that overlap on an item (as DynamoDB decides: a TransactWriteItems touching an item another
   * in-flight transaction touches) cancel with TransactionConflict, and a PutItem/UpdateItem/DeleteItem on an
   * item inside an in-flight transaction answers TransactionConflictException.
   */
  conflicts: boolean
  /**
   * Milliseconds the DynamoDB proxy holds each TransactWriteItems before forwarding it, widening the window in
   * which concurrent ones overlap (0 = none).
   */
  transactionHoldMs: number
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

/** The environment variables `npm start` reads, each turning one behaviour up, down or off. */
export const awsBehaviourVariables = {
  conflicts: 'HUDDLE_AWS_CONFLICTS',
  transactionHoldMs: 'HUDDLE_AWS_TRANSACTION_HOLD_MS',
  conflictRate: 'HUDDLE_AWS_CONFLICT_RATE',
  s3MissingKeyDenied: 'HUDDLE_AWS_S3_MISSING_KEY_DENIED',
} as const satisfies Record<keyof AwsBehaviours, string>

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
  const number = (key: 'transactionHoldMs' | 'conflictRate', max: number) => {
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
  number('transactionHoldMs', 60_000)
  number('conflictRate', 1)
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
    `transaction conflicts ${b.conflicts ? `on (hold ${b.transactionHoldMs} ms)` : 'off'}`,
    `injected conflicts ${b.conflictRate > 0 ? `${b.conflictRate * 100}%` : 'off'}`,
    `S3 missing key → 403 ${b.s3MissingKeyDenied ? 'on' : 'off'}`,
  ].join(', ')
}

/** One line of what was injected. */
export function describeCounters(c: AwsBehaviourCounters): string {
  return (
    `${c.overlapConflicts} transactions cancelled on an overlap, ${c.writeConflicts} writes refused inside a ` +
    `transaction, ${c.injectedConflicts} transactions cancelled at random, ${c.missingKeyDenials} missing keys answered 403`
  )
}
