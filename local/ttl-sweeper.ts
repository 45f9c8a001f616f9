import { BatchWriteItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb'
import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'
import type { AwsBehaviourCounters, AwsBehaviours } from './aws-behaviours.js'
import { emulatorClientConfig } from './emulators.js'

/** What the sweeper needs: DynamoDB Local, the table, the behaviours in force and where to count. */
export interface TtlSweeperOptions {
  endpoint: string
  table: string
  aws: { behaviours: AwsBehaviours; counters: AwsBehaviourCounters }
  /** How often it scans the table (every 5 minutes by default). */
  everyMs?: number
  log: (line: string) => void
}

/**
 * DynamoDB's TTL, which DynamoDB Local lacks: an item past its `ttl` stays in the table, read like any
 * other, until a sweep finds it `ttlSweepAfterSeconds` past its expiry and deletes it (on AWS, typically
 * within a few days). https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
 */
export function startTtlSweeper(options: TtlSweeperOptions): { sweep(): Promise<number>; stop(): void } {
  const db = new DynamoDBClient({ ...emulatorClientConfig, endpoint: options.endpoint })
  const { partitionKey, sortKey, ttlAttribute } = tableSchema
  const sweep = async (): Promise<number> => {
    const after = options.aws.behaviours.ttlSweepAfterSeconds
    if (after <= 0) return 0
    const cutoff = Math.floor(Date.now() / 1000) - after
    let swept = 0
    let start: Record<string, unknown> | undefined
    do {
      const page = await db.send(
        new ScanCommand({
          TableName: options.table,
          FilterExpression: '#ttl < :cutoff',
          ProjectionExpression: '#pk, #sk',
          ExpressionAttributeNames: { '#ttl': ttlAttribute, '#pk': partitionKey, '#sk': sortKey },
          ExpressionAttributeValues: { ':cutoff': { N: String(cutoff) } },
          ...(start && { ExclusiveStartKey: start as never }),
        }),
      )
      const keys = page.Items ?? []
      for (let i = 0; i < keys.length; i += 25) {
        const chunk = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }))
        await db.send(new BatchWriteItemCommand({ RequestItems: { [options.table]: chunk } }))
      }
      swept += keys.length
      start = page.LastEvaluatedKey
    } while (start)
    options.aws.counters.sweptItems += swept
    return swept
  }
  const timer = setInterval(
    () => {
      sweep().catch((error: unknown) => options.log(`TTL sweep failed: ${error}`))
    },
    options.everyMs ?? 5 * 60_000,
  )
  timer.unref()
  return {
    sweep,
    stop: () => {
      clearInterval(timer)
      db.destroy()
    },
  }
}
