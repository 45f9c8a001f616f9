import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  DynamoClient,
  DynamoError,
  type Item,
  regionalEndpoint,
} from '../../lambdas/adapters/dynamo/client.js'
import { marshallItem } from '../../lambdas/adapters/dynamo/marshall.js'
import { DynamoTable, isConditionFailure } from '../../lambdas/adapters/dynamo/table.js'
import { emulatorClientConfig, emulatorDynamoClient } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'
import { tableClient, unique } from '../support/huddle.js'

// The functions' own DynamoDB client against DynamoDB Local, checked by the SDK's document client reading
// and writing the same items; and against a stub server for what DynamoDB Local cannot be made to answer.

const TableName = localNames.table
const calls: string[] = []
const client = emulatorDynamoClient(inject('dynamoEndpoint'), ({ operation }, next) => {
  calls.push(operation)
  return next()
})
const table = new DynamoTable(client, TableName)
const { db: sdk } = tableClient()
afterAll(() => client.close())

/** An item with every kind of value the document client stores, and the same values nested. */
function everyKind(PK: string): Item {
  const values = {
    text: 'héllo ✓ "quoted" \\ back',
    empty: '',
    integer: 42,
    negative: -7,
    fraction: 0.125,
    zero: 0,
    large: Number.MAX_SAFE_INTEGER,
    yes: true,
    no: false,
    nothing: null,
    bytes: new Uint8Array([0, 1, 2, 250, 255]),
    list: ['a', 1, false, null, [2, 'b']],
    strings: new Set(['x', 'y z', 'é']),
    numbers: new Set([1, 2.5, -3]),
    byteSet: new Set([new Uint8Array([1]), new Uint8Array([2, 3])]),
  }
  return { PK, SK: 'ITEM', ...values, map: { ...values, deeper: { leaf: 'l' } } }
}

describe('the DynamoDB client, against DynamoDB Local', () => {
  it('stores every kind of value as the SDK’s document client does, and reads back what it stores', async () => {
    const ours = everyKind(unique('kinds'))
    await client.putItem({ TableName, Item: ours })
    const key = { PK: ours.PK, SK: 'ITEM' }
    expect((await client.getItem({ TableName, Key: key, ConsistentRead: true })).Item).toEqual(ours)
    const { Item: readBySdk } = await sdk.send(new GetCommand({ TableName, Key: key, ConsistentRead: true }))
    expect(readBySdk).toEqual(ours)

    const theirs = everyKind(unique('kinds'))
    await sdk.send(new PutCommand({ TableName, Item: theirs }))
    const { Item } = await client.getItem({
      TableName,
      Key: { PK: theirs.PK, SK: 'ITEM' },
      ConsistentRead: true,
    })
    expect(Item).toEqual(theirs)
    expect(Item?.bytes).toBeInstanceOf(Uint8Array)
    expect(Item?.numbers).toEqual(new Set([1, 2.5, -3]))
  })

  it('leaves undefined values out, as removeUndefinedValues does, in items and expression values', async () => {
    const PK = unique('undefined')
    await client.putItem({
      TableName,
      Item: { PK, SK: 'ITEM', gone: undefined, list: [1, undefined, 2], map: { kept: 1, gone: undefined } },
    })
    const Key = { PK, SK: 'ITEM' }
    const { Attributes } = await client.updateItem({
      TableName,
      Key,
      UpdateExpression: 'SET #n = :n',
      ExpressionAttributeNames: { '#n': 'note' },
      ExpressionAttributeValues: { ':n': { text: 'hi', gone: undefined }, ':unused': undefined },
      ReturnValues: 'ALL_NEW',
    })
    expect(Attributes).toEqual({ PK, SK: 'ITEM', list: [1, 2], map: { kept: 1 }, note: { text: 'hi' } })
  })

  it('is DynamoDB’s own in the region unless an endpoint is given', () => {
    expect(regionalEndpoint('eu-west-1')).toBe('https://dynamodb.eu-west-1.amazonaws.com')
    expect(regionalEndpoint('cn-north-1')).toBe('https://dynamodb.cn-north-1.amazonaws.com.cn')
  })

  it('refuses what DynamoDB cannot hold exactly, before sending it', () => {
    expect(() => marshallItem({ set: new Set() })).toThrow(/empty set/)
    expect(() => marshallItem({ n: Number.NaN })).toThrow()
    expect(() => marshallItem({ n: 2 ** 60 })).toThrow(/MAX_SAFE_INTEGER/)
    expect(() => marshallItem({ when: new Date() })).toThrow(/Date/)
  })

  it('answers a failed condition as ConditionalCheckFailedException, with the item as it was when asked for', async () => {
    const PK = unique('condition')
    const item = { PK, SK: 'ITEM', count: 3, tags: new Set(['a']) }
    await client.putItem({ TableName, Item: item })
    const failed = await client
      .updateItem({
        TableName,
        Key: { PK, SK: 'ITEM' },
        UpdateExpression: 'SET #c = :next',
        ConditionExpression: '#c = :expected',
        ExpressionAttributeNames: { '#c': 'count' },
        ExpressionAttributeValues: { ':next': 5, ':expected': 4 },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      })
      .catch((error: unknown) => error)
    expect(failed).toBeInstanceOf(DynamoError)
    expect(failed).toMatchObject({
      name: 'ConditionalCheckFailedException',
      status: 400,
      attempts: 1,
      Item: item,
    })
    expect(isConditionFailure(failed)).toBe(true)
    // Without ALL_OLD, no item.
    const bare = await client
      .putItem({ TableName, Item: item, ConditionExpression: 'attribute_not_exists(PK)' })
      .catch((error: unknown) => error)
    expect(bare).toMatchObject({ name: 'ConditionalCheckFailedException', Item: undefined })
  })

  it('answers a cancelled transaction with each item’s reason, the failed item included', async () => {
    const PK = unique('transaction')
    const existing = { PK, SK: 'TAKEN', by: 'alice', seq: 7 }
    await client.putItem({ TableName, Item: existing })
    const items = [
      { Put: { TableName, Item: { PK, SK: 'NEW' } } },
      {
        Put: {
          TableName,
          Item: { PK, SK: 'TAKEN', by: 'bob' },
          ConditionExpression: 'attribute_not_exists(PK)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
        },
      },
      {
        ConditionCheck: { TableName, Key: { PK, SK: 'TAKEN' }, ConditionExpression: 'attribute_exists(PK)' },
      },
    ]
    const failed = await client.transactWriteItems({ TransactItems: items }).catch((error: unknown) => error)
    expect(failed).toBeInstanceOf(DynamoError)
    expect(failed).toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [
        { Code: 'None' },
        { Code: 'ConditionalCheckFailed', Message: expect.any(String), Item: existing },
        { Code: 'None' },
      ],
    })
    expect(await table.transact(items)).toEqual((failed as DynamoError).CancellationReasons)
    // Nothing of it was written; without the failing item it commits.
    expect(
      (await client.getItem({ TableName, Key: { PK, SK: 'NEW' }, ConsistentRead: true })).Item,
    ).toBeUndefined()
    expect(await table.transact([items[0] ?? {}, items[2] ?? {}])).toBeUndefined()
    expect((await client.getItem({ TableName, Key: { PK, SK: 'NEW' }, ConsistentRead: true })).Item).toEqual({
      PK,
      SK: 'NEW',
    })
  })

  it('pages a query from where the last page stopped, and reads every page for the table', async () => {
    const PK = unique('pages')
    const sortKeys = Array.from({ length: 25 }, (_, i) => `E#${String(i).padStart(3, '0')}`)
    await Promise.all(sortKeys.map((SK, i) => client.putItem({ TableName, Item: { PK, SK, i } })))
    const input = {
      TableName,
      KeyConditionExpression: 'PK = :pk',
      ExpressionAttributeValues: { ':pk': PK },
      ConsistentRead: true,
      Limit: 10,
    }
    const pages = []
    for await (const page of client.queryPages(input)) pages.push(page)
    expect(pages.map((page) => page.Items.length)).toEqual([10, 10, 5])
    expect(pages[0]?.LastEvaluatedKey).toEqual({ PK, SK: sortKeys[9] })
    expect(pages.flatMap((page) => page.Items.map((item) => item.SK))).toEqual(sortKeys)

    const { Limit: _, TableName: __, ...unlimited } = input
    expect((await table.query({ ...unlimited, ScanIndexForward: false })).map((item) => item.i)).toEqual(
      sortKeys.map((_, i) => i).reverse(),
    )
    const counted = await client.query({ ...unlimited, TableName, Select: 'COUNT' })
    expect(counted).toEqual({ Items: [], Count: 25 })
  })

  it('reads more than 100 keys in batches of 100, leaving out the missing ones', async () => {
    const PK = unique('batch')
    const present = Array.from({ length: 230 }, (_, i) => ({ PK, SK: `K#${i}`, i }))
    await Promise.all(present.map((Item) => client.putItem({ TableName, Item })))
    const missing = Array.from({ length: 20 }, (_, i) => ({ PK, SK: `MISSING#${i}` }))
    const keyList = [...present, ...missing].map(({ PK, SK }) => ({ PK, SK }))
    calls.length = 0
    const found = await table.batchGet(keyList, 'PK, SK, i')
    expect(found).toHaveLength(230)
    expect(new Set(found.map((item) => item.i))).toEqual(new Set(present.map((item) => item.i)))
    expect(calls.filter((operation) => operation === 'BatchGetItem').length).toBeGreaterThanOrEqual(3)
  })
})

describe('the DynamoDB client’s retries, against a stub DynamoDB', () => {
  let server: Server
  let endpoint: string
  /** What the stub answers next, in order; then 200 {}. */
  let answers: { status: number; body: unknown }[] = []
  const seen: { target: string; body: unknown }[] = []
  beforeAll(async () => {
    server = createServer((request, response) => {
      void readJson(request).then((body) => {
        seen.push({ target: String(request.headers['x-amz-target']), body })
        const { status, body: answer } = answers.shift() ?? { status: 200, body: {} }
        response
          .writeHead(status, { 'content-type': 'application/x-amz-json-1.0' })
          .end(JSON.stringify(answer))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const stubClient = (slept: number[]) =>
    new DynamoClient({
      endpoint,
      region: emulatorClientConfig.region,
      credentials: async () => emulatorClientConfig.credentials,
      sleep: async (ms) => {
        slept.push(ms)
      },
    })
  const dynamoError = (type: string, extra: object = {}) => ({
    status: 400,
    body: { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: type, ...extra },
  })

  it('retries throttling as the SDK’s standard mode does, and succeeds on the attempt that gets through', async () => {
    for (const type of [
      'ProvisionedThroughputExceededException',
      'ThrottlingException',
      'RequestLimitExceeded',
    ]) {
      const slept: number[] = []
      const stub = stubClient(slept)
      seen.length = 0
      answers = [dynamoError(type), dynamoError(type), { status: 200, body: { Item: { PK: { S: 'p' } } } }]
      expect(await stub.getItem({ TableName: 't', Key: { PK: 'p' } })).toEqual({ Item: { PK: 'p' } })
      expect(seen).toHaveLength(3)
      expect(seen.every(({ target }) => target === 'DynamoDB_20120810.GetItem')).toBe(true)
      expect(seen[0]?.body).toEqual({ TableName: 't', Key: { PK: { S: 'p' } } })
      // Throttling backs off from 1 s (jittered), twice.
      expect(slept).toHaveLength(2)
      expect(slept.every((ms) => ms >= 0 && ms < 2000)).toBe(true)
      stub.close()
    }
  })

  it('gives up after the SDK’s four attempts for DynamoDB, naming the error and the attempts', async () => {
    const slept: number[] = []
    const stub = stubClient(slept)
    answers = Array.from({ length: 4 }, () => ({ status: 500, body: { __type: 'InternalServerError' } }))
    await expect(stub.putItem({ TableName: 't', Item: { PK: 'p' } })).rejects.toMatchObject({
      name: 'InternalServerError',
      status: 500,
      attempts: 4,
    })
    // Transient failures back off from 25 ms, doubling.
    expect(slept).toHaveLength(3)
    expect(slept.every((ms, i) => ms < 25 * 2 ** i)).toBe(true)
    stub.close()
  })

  it('does not retry a failed condition, and gives its item back unmarshalled', async () => {
    const slept: number[] = []
    const stub = stubClient(slept)
    seen.length = 0
    answers = [dynamoError('ConditionalCheckFailedException', { Item: { tat: { N: '1700000000123' } } })]
    const failed = await stub
      .updateItem({
        TableName: 't',
        Key: { PK: 'p' },
        UpdateExpression: 'SET a = :a',
        ExpressionAttributeValues: { ':a': 1 },
      })
      .catch((error: unknown) => error)
    expect(failed).toMatchObject({
      name: 'ConditionalCheckFailedException',
      attempts: 1,
      Item: { tat: 1700000000123 },
    })
    expect(seen).toHaveLength(1)
    expect(slept).toEqual([])
    stub.close()
  })
})

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
}
