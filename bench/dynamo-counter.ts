import type { DynamoClient } from '../lambdas/adapters/dynamo/client.js'
import { emulatorDynamoClient } from '../local/emulators.js'

/** What a stretch of DynamoDB traffic cost: calls by operation, HTTP attempts and capacity units. */
export interface DynamoTally {
  calls: Record<string, number>
  /** Milliseconds spent waiting on DynamoDB, by operation (overlapping calls each count in full). */
  millis: Record<string, number>
  attempts: number
  readUnits: number
  writeUnits: number
  /** How many responses carried ConsumedCapacity at all (DynamoDB Local may leave it out). */
  withCapacity: number
  /** Items put, updated or deleted inside TransactWriteItems (a ConditionCheck writes nothing): real
   * DynamoDB bills each at 2 WCU per KB, which Local's one CapacityUnits figure does not show. */
  itemsWritten: number
  /** When each call started and ended (performance.now()), to count the round trips that ran in sequence. */
  spans: Span[]
}

export interface Span {
  start: number
  end: number
}

/**
 * Round trips in sequence among `spans` that started before `until`: calls that overlap one another make
 * one round trip, a call that starts after every earlier one ended makes another.
 */
export function sequentialRoundTrips(spans: readonly Span[], until = Number.POSITIVE_INFINITY): number {
  let rounds = 0
  let roundEnd = Number.NEGATIVE_INFINITY
  for (const span of [...spans].filter((s) => s.start < until).sort((a, b) => a.start - b.start)) {
    if (span.start >= roundEnd) rounds++
    roundEnd = Math.max(roundEnd, span.end)
  }
  return rounds
}

// The operations that accept ReturnConsumedCapacity.
const capacityOperations = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'TransactGetItems',
  'TransactWriteItems',
])
const readOperations = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems'])

/** What DynamoDB answers as ConsumedCapacity (DynamoDB Local gives one CapacityUnits figure). */
interface ConsumedCapacity {
  CapacityUnits?: number
  ReadCapacityUnits?: number
  WriteCapacityUnits?: number
}

function emptyTally(): DynamoTally {
  return {
    calls: {},
    millis: {},
    attempts: 0,
    readUnits: 0,
    writeUnits: 0,
    withCapacity: 0,
    itemsWritten: 0,
    spans: [],
  }
}

/**
 * The functions' DynamoDB client whose every call asks for ConsumedCapacity and adds what it cost to
 * `tally`, so a benchmark can read the cost of one use case without touching the store adapter.
 */
export function countingDynamoClient(endpoint: string): {
  db: DynamoClient
  tally: DynamoTally
  reset(): DynamoTally
} {
  let tally = emptyTally()
  const db = emulatorDynamoClient(endpoint, async ({ operation, request }, next) => {
    if (capacityOperations.has(operation)) request.ReturnConsumedCapacity = 'TOTAL'
    if (operation === 'TransactWriteItems') {
      const entries = (request.TransactItems ?? []) as Record<string, unknown>[]
      tally.itemsWritten += entries.filter((entry) => entry.ConditionCheck === undefined).length
    }
    const startedAt = performance.now()
    const result = await next()
    const endedAt = performance.now()
    tally.spans.push({ start: startedAt, end: endedAt })
    tally.millis[operation] = (tally.millis[operation] ?? 0) + endedAt - startedAt
    const output = result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] }
    tally.calls[operation] = (tally.calls[operation] ?? 0) + 1
    tally.attempts += result.attempts
    const consumed = output.ConsumedCapacity
    const entries = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed]
    if (entries.length > 0) tally.withCapacity++
    for (const entry of entries) {
      const read = entry.ReadCapacityUnits
      const write = entry.WriteCapacityUnits
      if (read !== undefined || write !== undefined) {
        tally.readUnits += read ?? 0
        tally.writeUnits += write ?? 0
      } else if (readOperations.has(operation)) {
        tally.readUnits += entry.CapacityUnits ?? 0
      } else {
        tally.writeUnits += entry.CapacityUnits ?? 0
      }
    }
    return result
  })
  return {
    db,
    get tally() {
      return tally
    },
    reset() {
      const previous = tally
      tally = emptyTally()
      return previous
    },
  }
}
