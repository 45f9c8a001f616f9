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
