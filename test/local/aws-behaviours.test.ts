import {
  BatchGetItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb'
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import { describe, expect, inject, it } from 'vitest'
import { bucketPrefixes } from '../../lambdas/routes.js'
import {
  awsLikeBehaviours,
  InFlightTransactions,
  newCounters,
  noBehaviours,
} from '../../local/aws-behaviours.js'
import { functionCredentials, localAccount } from '../../local/grants.js'
import { localNames } from '../../local/stack.js'
import { startTtlSweeper } from '../../local/ttl-sweeper.js'
import { unique } from '../support/huddle.js'
import { proxyStarter } from '../support/proxies.js'

// The access proxies alone, each with the behaviours a test sets.
const proxies = proxyStarter()
const dynamoProxy = proxies.dynamo

const key = (pk: string) => ({ PK: { S: pk }, SK: { S: 'META' } })
const put = (pk: string): TransactWriteItemsCommandInput['TransactItems'] & object => [
  { Put: { TableName: localNames.table, Item: { ...key(pk), n: { N: '1' } } } },
]
const update = (pk: string) => ({
  Update: {
    TableName: localNames.table,
    Key: key(pk),
    UpdateExpression: 'ADD n :one',
    ExpressionAttributeValues: { ':one': { N: '1' } },
  },
})

/** What a call ended with: 'ok', or the error's name, HTTP status and cancellation reasons. */
async function outcome(call: Promise<unknown>) {
  return call.then(
    () => 'ok' as const,
    (error: { name: string; $metadata?: { httpStatusCode?: number }; CancellationReasons?: unknown }) => ({
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      ...(error instanceof TransactionCanceledException && { reasons: error.CancellationReasons }),
    }),
  )
}

describe('DynamoDB transaction conflicts', () => {
  it('cancels a transaction overlapping an in-flight one on an item, with TransactionConflict on that item', async () => {
    const { client, counters } = await dynamoProxy({ conflicts: true, transactionWindowMs: 300 })
    const [a, b] = [unique('conflict-a'), unique('conflict-b')]
    const first = outcome(client.send(new TransactWriteItemsCommand({ TransactItems: [update(a)] })))
    await new Promise((done) => setTimeout(done, 50))
    const second = await outcome(
      client.send(new TransactWriteItemsCommand({ TransactItems: [update(b), update(a)] })),
    )
    expect(second).toEqual({
      name: 'TransactionCanceledException',
      status: 400,
      reasons: [
        { Code: 'None' },
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
      ],
    })
    expect(await first).toBe('ok')
    expect(counters).toMatchObject({ overlapConflicts: 1, injectedConflicts: 0 })
    // Once its window is over, its items are free again.
    await new Promise((done) => setTimeout(done, 300))
    expect(await outcome(client.send(new TransactWriteItemsCommand({ TransactItems: [update(a)] })))).toBe(
      'ok',
    )
  })

  it('answers a plain write to an item inside an in-flight transaction TransactionConflictException', async () => {
    const { client, counters } = await dynamoProxy({ conflicts: true, transactionWindowMs: 300 })
    const pk = unique('conflict-write')
    const transaction = outcome(client.send(new TransactWriteItemsCommand({ TransactItems: put(pk) })))
    await new Promise((done) => setTimeout(done, 50))
    const write = new PutItemCommand({ TableName: localNames.table, Item: key(pk) })
    expect(await outcome(client.send(write))).toEqual({ name: 'TransactionConflictException', status: 400 })
    expect(await transaction).toBe('ok')
    await new Promise((done) => setTimeout(done, 300))
    expect(await outcome(client.send(write))).toBe('ok')
    expect(counters.writeConflicts).toBe(1)
  })

  it('cancels every transaction at conflictRate 1, and none with the behaviours off', async () => {
    const always = await dynamoProxy({ conflictRate: 1 })
    const off = await dynamoProxy({})
    const pk = unique('conflict-rate')
    for (let i = 0; i < 3; i++) {
      const cancelled = await outcome(
        always.client.send(new TransactWriteItemsCommand({ TransactItems: put(pk) })),
      )
      expect(cancelled).toMatchObject({ name: 'TransactionCanceledException', status: 400 })
    }
    expect(always.counters.injectedConflicts).toBe(3)
    const overlapping = await Promise.all(
      [0, 1, 2].map(() =>
        outcome(off.client.send(new TransactWriteItemsCommand({ TransactItems: [update(pk)] }))),
      ),
    )
    expect(overlapping).toEqual(['ok', 'ok', 'ok'])
    expect(off.counters).toEqual(newCounters())
  })

  it('answers in DynamoDB’s exact JSON error shapes', async () => {
    const counters = newCounters()
    const transactions = new InFlightTransactions(
      { ...noBehaviours, conflicts: true, transactionWindowMs: 50 },
      counters,
    )
    expect(transactions.begin({ TransactItems: put('x') })).toBeUndefined()
    expect(transactions.begin({ TransactItems: [...put('y'), update('x')] })).toEqual({
      body: {
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        Message:
          'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
        CancellationReasons: [
          { Code: 'None' },
          { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
        ],
      },
    })
    expect(transactions.write({ TableName: localNames.table, Key: key('x') })).toEqual({
      body: {
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionConflictException',
        message: 'Transaction is ongoing for the item',
      },
    })
    await new Promise((done) => setTimeout(done, 60))
    expect(transactions.write({ TableName: localNames.table, Key: key('x') })).toBeUndefined()
  })
})

describe('DynamoDB stale reads', () => {
  it('serves an eventually consistent read the items as they were before the last writes, until the lag is over', async () => {
    const { client, counters } = await dynamoProxy({ staleReadLagMs: 1500, staleReadRate: 1 })
    const [changed, created, deleted] = [
      unique('stale-changed'),
      unique('stale-created'),
      unique('stale-deleted'),
    ]
    const table = localNames.table
    const n = async (pk: string, consistent = false) => {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: table, Key: key(pk), ConsistentRead: consistent }),
      )
      return Item?.n?.N
    }
    await client.send(new PutItemCommand({ TableName: table, Item: { ...key(changed), n: { N: '1' } } }))
    await client.send(new PutItemCommand({ TableName: table, Item: { ...key(deleted), n: { N: '1' } } }))
    await new Promise((done) => setTimeout(done, 1600))
    await client.send(new TransactWriteItemsCommand({ TransactItems: [update(changed), ...put(created)] }))
    await client.send(new DeleteItemCommand({ TableName: table, Key: key(deleted) }))

    expect([await n(changed), await n(created), await n(deleted)]).toEqual(['1', undefined, '1'])
    expect([await n(changed, true), await n(created, true), await n(deleted, true)]).toEqual([
      '2',
      '1',
      undefined,
    ])
    const { Items } = await client.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': { S: changed } },
      }),
    )
    expect(Items).toEqual([{ ...key(changed), n: { N: '1' } }])
    const { Responses } = await client.send(
      new BatchGetItemCommand({
        RequestItems: { [table]: { Keys: [key(changed), key(created), key(deleted)] } },
      }),
    )
    expect(Responses?.[table]?.map((item) => item.n?.N).sort()).toEqual(['1', '1'])
    expect(counters.staleReads).toBe(5)

    await new Promise((done) => setTimeout(done, 1600))
    expect([await n(changed), await n(created), await n(deleted)]).toEqual(['2', '1', undefined])
    expect(counters.staleReads).toBe(5)
  })
})

describe('DynamoDB TTL', () => {
  it('keeps an expired item in the table until a sweep finds it long enough past its ttl', async () => {
    const counters = newCounters()
    const sweeper = startTtlSweeper({
      endpoint: inject('dynamoEndpoint'),
      table: localNames.table,
      aws: { behaviours: { ...noBehaviours, ttlSweepAfterSeconds: 30 }, counters },
      log: () => {},
    })
    const { client } = await dynamoProxy({})
    const now = Math.floor(Date.now() / 1000)
    const [long, lately, live] = [unique('ttl-long'), unique('ttl-lately'), unique('ttl-live')]
    for (const [pk, ttl] of [
      [long, now - 60],
      [lately, now - 5],
      [live, now + 3600],
    ] as const) {
      await client.send(
        new PutItemCommand({ TableName: localNames.table, Item: { ...key(pk), ttl: { N: String(ttl) } } }),
      )
    }
    const present = async (pk: string) =>
      (
        await client.send(
          new GetItemCommand({ TableName: localNames.table, Key: key(pk), ConsistentRead: true }),
        )
      ).Item !== undefined
    try {
      expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1)
      expect([await present(long), await present(lately), await present(live)]).toEqual([false, true, true])
      expect(counters.sweptItems).toBeGreaterThanOrEqual(1)
    } finally {
      sweeper.stop()
    }
  })
})

describe('S3 missing keys', () => {
  const s3Proxy = proxies.s3
  const missing = { Bucket: localNames.bucket, Key: `${bucketPrefixes.avatars}${unique('never-uploaded')}` }

  it('answers 403 AccessDenied to a function that may not list the bucket, and 404 to one that may', async () => {
    // `join` may read avatars/ and list them only with an s3:prefix, which an object request does not carry.
    const asFunction = await s3Proxy({ s3MissingKeyDenied: true }, functionCredentials('join'))
    expect(await outcome(asFunction.client.send(new GetObjectCommand(missing)))).toEqual({
      name: 'AccessDenied',
      status: 403,
    })
    expect(await outcome(asFunction.client.send(new HeadObjectCommand(missing)))).toMatchObject({
      status: 403,
    })
    expect(asFunction.counters.missingKeyDenials).toBe(2)

    const asAdmin = await s3Proxy({ s3MissingKeyDenied: true }, localAccount.admin)
    expect(await outcome(asAdmin.client.send(new GetObjectCommand(missing)))).toEqual({
      name: 'NoSuchKey',
      status: 404,
    })
    const off = await s3Proxy({}, functionCredentials('join'))
    expect(await outcome(off.client.send(new GetObjectCommand(missing)))).toEqual({
      name: 'NoSuchKey',
      status: 404,
    })
    expect(off.counters.missingKeyDenials).toBe(0)
  })
})

describe('the local stack', () => {
  it('runs with the behaviours it was given, and serves what they injected at GET /dev/aws-behaviours', async () => {
    const answer = await fetch(`${inject('httpUrl')}/dev/aws-behaviours`)
    expect(answer.status).toBe(200)
    expect(await answer.json()).toEqual({
      behaviours: awsLikeBehaviours,
      counters: Object.fromEntries(Object.keys(newCounters()).map((name) => [name, expect.any(Number)])),
    })
  })
})
