import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { DynamoClient } from '../../lambdas/adapters/dynamo/client.js'
import { DynamoTable } from '../../lambdas/adapters/dynamo/table.js'
import {
  awsLikeBehaviours,
  behavioursFromEnvironment,
  newCounters,
  noBehaviours,
} from '../../local/aws-behaviours.js'
import { emulatorDynamoClient } from '../../local/emulators.js'
import { type Credentials, functionCredentials, localAccount } from '../../local/grants.js'
import { capacityUnits, PartitionLimits, TokenBuckets } from '../../local/partition-limits.js'
import { localNames } from '../../local/stack.js'
import { unique } from '../support/huddle.js'
import { proxyStarter } from '../support/proxies.js'

// DynamoDB's throughput limit per partition key value, through the DynamoDB proxy alone with a limit low
// enough to reach; requests signed with a function's own keys (the admin's where no function may call).

const table = localNames.table
const proxies = proxyStarter()
const dynamoProxy = proxies.dynamo
/** Straight to DynamoDB Local, past the proxy and its limits. */
const direct = emulatorDynamoClient(inject('dynamoEndpoint'))
afterAll(() => direct.close())

const key = (pk: string, sk = 'META') => ({ PK: { S: pk }, SK: { S: sk } })
const putItem = (pk: string, sk = 'META') =>
  new PutItemCommand({ TableName: table, Item: { ...key(pk, sk), n: { N: '1' } } })

/** What a call ended with: 'ok', or the error's name, status, message and reasons. */
async function outcome(call: Promise<unknown>) {
  return call.then(
    () => 'ok' as const,
    (error: {
      name: string
      message: string
      $metadata?: { httpStatusCode?: number }
      ThrottlingReasons?: unknown
    }) => ({
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      message: error.message,
      ...(error.ThrottlingReasons !== undefined && { reasons: error.ThrottlingReasons }),
      ...(error instanceof TransactionCanceledException && { cancellation: error.CancellationReasons }),
    }),
  )
}

const tableArn = `arn:aws:dynamodb:${localAccount.region}:${localAccount.id}:table/${table}`
const tableMessage =
  'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.'
const throttlingMessage =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html'

describe('partition buckets and capacity units', () => {
  it('holds one second’s worth per key, refills at the rate, and lets a read’s cost go below zero', () => {
    let now = 0
    const buckets = new TokenBuckets(() => now)
    expect(buckets.take('a', 10, 10)).toBe(true)
    expect(buckets.take('a', 10, 1)).toBe(false)
    expect(buckets.take('b', 10, 1)).toBe(true)
    now += 250
    expect(buckets.available('a', 10)).toBe(2.5)
    now += 10_000
    expect(buckets.available('a', 10)).toBe(10)
    buckets.spend('a', 10, 15)
    expect(buckets.take('a', 10, 1)).toBe(false)
    now += 600
    expect(buckets.take('a', 10, 1)).toBe(true)
  })

  it('counts a write unit per started KB (two in a transaction), a read unit per started 4 KB', () => {
    expect([capacityUnits.write(0), capacityUnits.write(1024), capacityUnits.write(1025)]).toEqual([1, 1, 2])
    expect(capacityUnits.write(1500, true)).toBe(4)
    expect([capacityUnits.read(100, 1, 1), capacityUnits.read(4097, 1, 1)]).toEqual([1, 2])
    expect([capacityUnits.read(4097, 1, 0.5), capacityUnits.read(100, 3, 0.5)]).toEqual([1, 1.5])
  })

  it('keeps a bucket per partition key value, the index’s by GSI1PK, and reads apart from writes', () => {
    let now = 0
    const counters = newCounters()
    const limits = new PartitionLimits(
      { ...noBehaviours, partitionReadUnits: 2, partitionWriteUnits: 2 },
      counters,
      () => now,
    )
    const put = (pk: string) => limits.admit('PutItem', { TableName: table, Item: { PK: { S: pk } } })
    const query = (index?: string) =>
      limits.admit('Query', {
        TableName: table,
        ...(index && { IndexName: index }),
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': index ? 'GSI1PK' : 'PK', '#sk': 'SK' },
        ExpressionAttributeValues: { ':pk': { S: 'USER#a' }, ':prefix': { S: 'G' } },
        ConsistentRead: true,
      })
    expect([put('g'), put('g'), put('h')]).toEqual([undefined, undefined, undefined])
    expect(put('g')?.refusal?.body).toMatchObject({ message: tableMessage })
    // The same value is another partition in the index, read at half a unit (eventually consistent).
    for (let i = 0; i < 2; i++) expect(query()?.refusal).toBeUndefined()
    expect(query()?.refusal).toBeDefined()
    for (let i = 0; i < 4; i++) expect(query('GSI1')?.refusal).toBeUndefined()
    expect(query('GSI1')?.refusal?.body).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
      message:
        'The level of configured provisioned throughput for one or more global secondary indexes of the table was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes with the UpdateTable API.',
      ThrottlingReasons: [
        { reason: 'IndexReadKeyRangeThroughputExceeded', resource: `${tableArn}/index/GSI1` },
      ],
    })
    expect(counters).toMatchObject({ throttledReads: 2, throttledWrites: 1 })
    now += 1000
    expect(put('g')).toBeUndefined()
  })

  it('is AWS’s 3,000 and 1,000 units by default, and read from HUDDLE_AWS_PARTITION_*_UNITS', () => {
    expect(awsLikeBehaviours).toMatchObject({ partitionReadUnits: 3000, partitionWriteUnits: 1000 })
    expect(
      behavioursFromEnvironment({
        HUDDLE_AWS_PARTITION_READ_UNITS: '30',
        HUDDLE_AWS_PARTITION_WRITE_UNITS: 'off',
      }),
    ).toEqual({ partitionReadUnits: 30, partitionWriteUnits: 0 })
  })
})

describe('partition limits through the DynamoDB proxy', () => {
  it('answers a write past its partition’s units ProvisionedThroughputExceededException, and cancels a transaction with ThrottlingError', async () => {
    const { client, counters } = await dynamoProxy({ partitionWriteUnits: 3 })
    const [hot, cool] = [unique('hot'), unique('cool')]
    // A write of about 4 KB needs four units, more than a partition of three a second ever holds.
    const sized = (pk: string, bytes: number) => ({ ...key(pk), payload: { S: 'x'.repeat(bytes) } })
    expect(await outcome(client.send(putItem(hot)))).toBe('ok')
    const big = new PutItemCommand({ TableName: table, Item: sized(hot, 4000) })
    expect(await outcome(client.send(big))).toEqual({
      name: 'ProvisionedThroughputExceededException',
      status: 400,
      message: tableMessage,
      reasons: [{ reason: 'TableWriteKeyRangeThroughputExceeded', resource: tableArn }],
    })
    const transaction = new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: table, Item: { ...key(cool), n: { N: '1' } } } },
        // Two units for 1.1 KB, twice in a transaction.
        { Put: { TableName: table, Item: sized(hot, 1100) } },
      ],
    })
    expect(await outcome(client.send(transaction))).toEqual({
      name: 'TransactionCanceledException',
      status: 400,
      message:
        'Transaction cancelled, please refer cancellation reasons for specific reasons [None, ThrottlingError]',
      cancellation: [{ Code: 'None' }, { Code: 'ThrottlingError', Message: throttlingMessage }],
    })
    expect(counters).toMatchObject({ throttledWrites: 2, throttledReads: 0 })
  })

  it('leaves a hot partition’s keys and items unprocessed in a batch, and throttles a batch wholly on it', async () => {
    const reads = await dynamoProxy({ partitionReadUnits: 2 })
    const [hot, cool] = [unique('hot-batch'), unique('cool-batch')]
    // Read, a 40 KB item costs units the partition is seconds in paying back.
    await direct.putItem({ TableName: table, Item: { PK: hot, SK: 'A', payload: 'x'.repeat(40_000) } })
    const Keys = [key(hot, 'A'), key(cool), key(hot, 'B'), key(hot, 'C')]
    const projection = { ConsistentRead: true, ProjectionExpression: 'PK, SK, payload' }
    const batch = await reads.client.send(
      new BatchGetItemCommand({ RequestItems: { [table]: { Keys, ...projection } } }),
    )
    expect(batch.Responses?.[table]?.map((item) => item.SK?.S)).toEqual(['A'])
    expect(batch.UnprocessedKeys).toEqual({ [table]: { Keys: [key(hot, 'C')], ...projection } })
    expect(reads.counters.throttledReads).toBe(1)
    expect(
      await outcome(
        reads.client.send(new BatchGetItemCommand({ RequestItems: { [table]: { Keys: [key(hot, 'D')] } } })),
      ),
    ).toMatchObject({ name: 'ProvisionedThroughputExceededException', status: 400 })

    // No function may BatchWriteItem; the developer's credentials may.
    const writes = await dynamoProxy({ partitionWriteUnits: 2 }, localAccount.admin as Credentials)
    const put = (pk: string, sk: string) => ({ PutRequest: { Item: { ...key(pk, sk), n: { N: '1' } } } })
    const written = await writes.client.send(
      new BatchWriteItemCommand({
        RequestItems: { [table]: [put(hot, 'A'), put(hot, 'B'), put(cool, 'A'), put(hot, 'C')] },
      }),
    )
    expect(written.UnprocessedItems).toEqual({ [table]: [put(hot, 'C')] })
    expect(writes.counters.throttledWrites).toBe(1)
  })

  it('is ridden through by the functions’ client: writes, transactions and batch reads retried with backoff', async () => {
    const { endpoint, counters } = await dynamoProxy({ partitionReadUnits: 4, partitionWriteUnits: 10 })
    let retried = 0
    const credentials = functionCredentials('message')
    const db = new DynamoClient({
      endpoint,
      region: localAccount.region,
      credentials: async () => credentials,
      onConflict: {
        retried: () => {
          retried++
        },
      },
    })
    const [hot, hotter] = [unique('ride'), unique('ride-transactions')]
    // About two seconds' worth of write units at once on each of two partitions: puts of three units each,
    // transactions of four (two units of 1.1 KB, twice).
    await Promise.all([
      ...Array.from({ length: 6 }, (_, i) =>
        db.putItem({ TableName: table, Item: { PK: hot, SK: `P${i}`, payload: 'x'.repeat(2500) } }),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        db.transactWriteItems({
          TransactItems: [
            { Put: { TableName: table, Item: { PK: hotter, SK: `T${i}`, payload: 'x'.repeat(1100) } } },
          ],
        }),
      ),
    ])
    expect(counters.throttledWrites).toBeGreaterThanOrEqual(2)
    expect(retried).toBeGreaterThanOrEqual(1)
    const found = await new DynamoTable(db, table).batchGet(
      Array.from({ length: 6 }, (_, i) => ({ PK: hot, SK: `P${i}` })),
      'PK, SK',
    )
    expect(found.map((found) => found.SK).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `P${i}`))
    expect(counters.throttledReads).toBeGreaterThanOrEqual(1)
    db.close()

    const count = async (pk: string) =>
      (
        await direct.query({
          TableName: table,
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
          Select: 'COUNT',
        })
      ).Count
    expect([await count(hot), await count(hotter)]).toEqual([6, 5])
  })

  it('throttles a query on the partition its key condition names', async () => {
    const { client, counters } = await dynamoProxy({ partitionReadUnits: 1 })
    const pk = unique('query')
    await direct.putItem({ TableName: table, Item: { PK: pk, SK: 'A', payload: 'x'.repeat(40_000) } })
    const query = new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'PK = :pk',
      ExpressionAttributeValues: { ':pk': { S: pk } },
      ConsistentRead: true,
    })
    expect(await outcome(client.send(query))).toBe('ok')
    expect(await outcome(client.send(query))).toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      reasons: [{ reason: 'TableReadKeyRangeThroughputExceeded', resource: tableArn }],
    })
    expect(counters.throttledReads).toBe(1)
  })
})
