import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DynamoClient } from '../../lambdas/adapters/dynamo/client.js'
import { DynamoTable } from '../../lambdas/adapters/dynamo/table.js'
import { emulatorClientConfig } from '../../local/emulators.js'

// DynamoDB cancels one of two transactions that overlap on an item (TransactionConflict) or that meet a
// throttled partition (ThrottlingError), and refuses a plain write into a running transaction
// (TransactionConflictException); the SDK retries none of them. A stub answers
// them here as DynamoDB does, so that the client's retries are seen attempt by attempt.

describe('writes that meet a transaction conflict, against a stub DynamoDB', () => {
  let server: Server
  let endpoint: string
  /** What the stub answers next, in order; then 200 {}. */
  let answers: { status: number; body: unknown }[] = []
  let requests = 0
  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume()
      request.on('end', () => {
        requests++
        const { status, body } = answers.shift() ?? { status: 200, body: {} }
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(body))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const cancelled = (...codes: string[]) => ({
    status: 400,
    body: {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
      CancellationReasons: codes.map((Code) => ({ Code })),
    },
  })
  const conflictException = {
    status: 400,
    body: {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionConflictException',
      message: 'Transaction is ongoing for the item',
    },
  }

  function setup() {
    const slept: number[] = []
    const seen = { retried: 0, exhausted: [] as number[] }
    const db = new DynamoClient({
      endpoint,
      region: emulatorClientConfig.region,
      credentials: async () => emulatorClientConfig.credentials,
      sleep: async (ms) => {
        slept.push(ms)
      },
      onConflict: {
        retried: () => {
          seen.retried++
        },
        exhausted: (_operation, attempts) => {
          seen.exhausted.push(attempts)
        },
      },
    })
    requests = 0
    return { table: new DynamoTable(db, 't'), db, slept, seen }
  }
  const put = { Put: { TableName: 't', Item: { PK: 'p', SK: 's' } } }
  const update = { Update: { TableName: 't', Key: { PK: 'g', SK: 'META' }, UpdateExpression: 'SET a = :a' } }

  it('sends a transaction cancelled by a conflict again, with jittered backoff, until it commits', async () => {
    const { table, db, slept, seen } = setup()
    answers = [cancelled('None', 'TransactionConflict'), cancelled('TransactionConflict', 'None')]
    expect(await table.transact([put, update])).toBeUndefined()
    expect(requests).toBe(3)
    expect(seen).toEqual({ retried: 2, exhausted: [] })
    expect(slept).toHaveLength(2)
    expect(slept.every((ms, i) => ms >= 0 && ms < 20 * 2 ** i)).toBe(true)
    db.close()
  })

  it('gives up after sixteen attempts, throwing the cancellation and saying so once', async () => {
    const { table, db, slept, seen } = setup()
    answers = Array.from({ length: 16 }, () => cancelled('TransactionConflict', 'None'))
    await expect(table.transact([put, update])).rejects.toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
    })
    expect(requests).toBe(16)
    expect(seen).toEqual({ retried: 15, exhausted: [16] })
    // Capped at half a second however many attempts it took.
    expect(slept).toHaveLength(15)
    expect(slept.every((ms) => ms < 500)).toBe(true)
    db.close()
  })

  it('answers a failed condition at once, even beside a conflict: it is an answer, not a race', async () => {
    const { table, db, seen } = setup()
    answers = [cancelled('ConditionalCheckFailed', 'TransactionConflict')]
    expect(await table.transact([put, update])).toEqual([
      { Code: 'ConditionalCheckFailed' },
      { Code: 'TransactionConflict' },
    ])
    expect(requests).toBe(1)
    expect(seen.retried).toBe(0)
    db.close()
  })

  it('sends a transaction cancelled by throttling (ThrottlingError) again, counted as a conflict', async () => {
    const { table, db, seen } = setup()
    answers = [cancelled('None', 'ThrottlingError'), cancelled('ThrottlingError', 'TransactionConflict')]
    expect(await table.transact([put, update])).toBeUndefined()
    expect(requests).toBe(3)
    expect(seen).toEqual({ retried: 2, exhausted: [] })
    db.close()
  })

  it('does not send again a transaction cancelled for a reason that sending again cannot cure', async () => {
    const { table, db, seen } = setup()
    answers = [cancelled('ValidationError', 'ThrottlingError')]
    await expect(table.transact([put, update])).rejects.toMatchObject({
      name: 'TransactionCanceledException',
    })
    expect(requests).toBe(1)
    expect(seen.retried).toBe(0)
    db.close()
  })

  it('sends a plain write refused by a running transaction again', async () => {
    const { db, seen } = setup()
    answers = [conflictException, conflictException]
    await db.updateItem({ TableName: 't', Key: { PK: 'g', SK: 'META' }, UpdateExpression: 'SET a = :a' })
    expect(requests).toBe(3)
    expect(seen.retried).toBe(2)
    db.close()
  })
})
