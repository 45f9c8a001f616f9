import { resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb'
import { keys } from '../lambdas/adapters/dynamo/keys.js'
import { fromMember } from '../lambdas/adapters/dynamo/mappers.js'
import { dynamoStores } from '../lambdas/adapters/dynamo/stores.js'
import { DynamoTable } from '../lambdas/adapters/dynamo/table.js'
import { S3Objects } from '../lambdas/adapters/s3-objects.js'
import type { PurgeReport } from '../lambdas/core/group-purge.js'
import type { Member } from '../lambdas/core/model.js'
import { bucketPrefixes, purgeWorker } from '../lambdas/routes.js'
import { describeBehaviours, describeCounters } from '../local/aws-behaviours.js'
import { emulatorClientConfig, emulatorDynamoClient } from '../local/emulators.js'
import { localNames, startLocalStack } from '../local/stack.js'
import { saveResults } from './results-file.js'
import { announceMachine, printTable, round } from './stats.js'
import { BenchClient, mapLimited } from './ws-client.js'

// Deleting a large group through the real deleteGroup route and purge worker, with the local stack's AWS
// behaviours and limits on (the 29 s integration timeout, partition throughput, conflicts, stale reads):
// the group, its members, its messages and their files are seeded directly into DynamoDB Local and the S3
// emulator (10,000 WebSocket clients would measure the handshake, not the purge); the purge then runs as
// deployed and must leave no item but the mark and no object.
// Run: npx tsx bench/purge.ts [--quick]

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
// The purge worker reports each run at INFO; the other functions' lines are not kept.
process.env.POWERTOOLS_LOG_LEVEL = 'INFO'

const quick = process.argv.includes('--quick')
const size = { members: quick ? 1_000 : 10_000, messages: quick ? 1_000 : 10_000 }
/** Seeding runs straight at the emulators, many writes at once. */
const seedConcurrency = 16

interface PurgeResult {
  ranAt: string
  members: number
  messages: number
  /** What the group held before: its items (the mark aside) and its objects. */
  seeded: { items: number; objects: number }
  /** deleteGroup's answer, and the purge's end, from the request (ms). */
  answerMs: number
  purgedMs: number
  /** Summed over the worker's runs (a run near its deadline hands the rest over). */
  runs: number
  pages: number
  itemsDeleted: number
  objectsDeleted: number
  /** What was left: items but the mark, objects under the group's prefixes. */
  itemsLeft: number
  objectsLeft: number
  aws: { behaviours: string; counters: string }
}

async function main(): Promise<void> {
  const machine = await announceMachine()
  const ranAt = new Date().toISOString()
  const reports: PurgeReport[] = []
  const stack = await startLocalStack({
    port: 0,
    log: (line) => console.log(`[local stack] ${line}`),
    functionOutput: (name, line, stream) => {
      if (name === purgeWorker.handler && line.includes('"group purge')) {
        const entry = JSON.parse(line) as PurgeReport & { message: string }
        if (entry.message !== 'group purge failed') reports.push(entry)
        else console.error(`[purge] ${line}`)
      } else if (stream === 'stderr' || line.includes('"level":"ERROR"')) {
        console.error(`[${name}] ${line}`)
      }
    },
  })
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...emulatorClientConfig, endpoint: stack.dynamoEndpoint }),
    { marshallOptions: { removeUndefinedValues: true } },
  )
  const s3 = new S3Client({ ...emulatorClientConfig, endpoint: stack.s3Endpoint, forcePathStyle: true })
  const bucket = new S3Objects({
    bucket: localNames.bucket,
    region: emulatorClientConfig.region,
    credentials: async () => emulatorClientConfig.credentials,
    endpoint: stack.s3Endpoint,
  })
  const store = dynamoStores(new DynamoTable(emulatorDynamoClient(stack.dynamoEndpoint), localNames.table))
  let admin: BenchClient | undefined
  try {
    const gid = `purge-${Date.now().toString(36)}`
    const alice = `${gid}-admin`
    console.log(`seeding ${gid}: ${size.members} members, ${size.messages} messages with a file each…`)
    const seedStart = performance.now()
    const seeded = await seed(gid, alice)
    console.log(
      `seeded ${seeded.items} items and ${seeded.objects} objects in ${round((performance.now() - seedStart) / 1000, 1)} s`,
    )

    admin = await BenchClient.connect(stack.url, alice)
    const start = performance.now()
    const answer = await admin.request('deleteGroup', { gid })
    const answerMs = performance.now() - start
    if (answer.type !== 'ack') throw new Error(`deleteGroup failed: ${JSON.stringify(answer)}`)
    console.log(`deleteGroup answered in ${round(answerMs / 1000, 2)} s; waiting for the purge…`)
    let purgedMs = 0
    for (;;) {
      const { Item } = await db.send(
        new GetCommand({ TableName: localNames.table, Key: keys.group(gid), ConsistentRead: true }),
      )
      if (Item?.purged === true) {
        purgedMs = performance.now() - start
        break
      }
      if (performance.now() - start > 30 * 60_000) throw new Error('the purge did not end within 30 minutes')
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const objectsLeft = (await objectsOf(bucket, gid)).length
    const ours = reports.filter((report) => report.gid === gid)
    const sum = (pick: (report: PurgeReport) => number) => ours.reduce((total, r) => total + pick(r), 0)
    const result: PurgeResult = {
      ranAt,
      members: size.members,
      messages: size.messages,
      seeded,
      answerMs: round(answerMs),
      purgedMs: round(purgedMs),
      runs: ours.length,
      pages: sum((r) => r.pages),
      itemsDeleted: sum((r) => r.items),
      objectsDeleted: sum((r) => r.objects),
      itemsLeft: (await countItems(gid)) - 1,
      objectsLeft,
      aws: {
        behaviours: describeBehaviours(stack.aws.behaviours),
        counters: describeCounters(stack.aws.counters),
      },
    }
    console.log(`\ndeleting a group of ${size.members} members and ${size.messages} messages with files`)
    printTable(
      [
        'answer (s)',
        'purged (s)',
        'worker runs',
        'pages',
        'items deleted',
        'objects deleted',
        'items left',
        'objects left',
      ],
      [
        [
          round(answerMs / 1000, 2),
          round(purgedMs / 1000, 1),
          result.runs,
          result.pages,
          result.itemsDeleted,
          result.objectsDeleted,
          result.itemsLeft,
          result.objectsLeft,
        ],
      ],
    )
    console.log(`AWS behaviours: ${result.aws.behaviours}\nwhat they injected: ${result.aws.counters}`)
    const complete = result.itemsLeft === 0 && objectsLeft === 0 && result.itemsDeleted >= seeded.items
    if (!complete) throw new Error(`the purge left ${result.itemsLeft} items and ${objectsLeft} objects`)
    // A quick run is not a baseline to compare later runs with.
    if (!quick) await saveResults('purge', { ...result, machine })
  } finally {
    await admin?.close()
    s3.destroy()
    bucket.close()
    db.destroy()
    await stack.stop()
  }

  /** Every item of the group's partition, its mark included (a count is a page at a time, too). */
  async function countItems(gid: string): Promise<number> {
    let count = 0
    let start: Record<string, unknown> | undefined
    do {
      const page = await db.send(
        new QueryCommand({
          TableName: localNames.table,
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': keys.group(gid).PK },
          ConsistentRead: true,
          Select: 'COUNT',
          ...(start && { ExclusiveStartKey: start }),
        }),
      )
      count += page.Count ?? 0
      start = page.LastEvaluatedKey
    } while (start)
    return count
  }

  /** The group with its admin, the members (every other one joined), the messages, each with one file, and
   * an avatar; straight into the emulators, in batches. */
  async function seed(gid: string, alice: string): Promise<{ items: number; objects: number }> {
    const at = new Date().toISOString()
    const avatar = `${bucketPrefixes.avatars}${gid}/${crypto.randomUUID()}`
    const member = (iss: string, joined: boolean): Member => ({
      gid,
      iss,
      status: joined ? 'joined' : 'invited',
      role: iss === alice ? 'admin' : 'member',
      invitedBy: alice,
      invitedAt: at,
      since: 0,
      ...(joined && { joinedAt: at, joinSeq: 0 }),
    })
    const created = await store.createGroup(
      {
        gid,
        name: 'Everyone',
        createdBy: alice,
        createdAt: at,
        head: 0,
        departedSeq: 0,
        avatar: { key: avatar, mime: 'image/png' },
      },
      [member(alice, true)],
    )
    if (!created) throw new Error(`${gid} exists`)
    const others = Array.from({ length: size.members - 1 }, (_, i) => member(`${gid}-m${i}`, i % 2 === 0))
    const files: string[] = []
    const messages = Array.from({ length: size.messages }, (_, i) => {
      const seq = i + 1
      const jti = `j${seq}`
      const key = `${bucketPrefixes.files}${gid}/${jti}/0`
      files.push(key)
      const iss = others[i % others.length]?.iss ?? alice
      const expires = Math.ceil(Date.now() / 1000) + 86_400
      return [
        {
          ...keys.event(gid, seq),
          type: 'chat.message',
          gid,
          iss,
          jti,
          body: `message ${seq}`,
          seq,
          iat: at,
          attachments: [{ key, size: 64, digest: 'sha256:bench' }],
          ttl: expires,
        },
        { ...keys.messageMarker(gid, jti), iss, seq, ttl: expires },
      ]
    })
    const items = [...others.map(fromMember), ...messages.flat()]
    const batches = Array.from({ length: Math.ceil(items.length / 25) }, (_, i) =>
      items.slice(i * 25, i * 25 + 25),
    )
    await mapLimited(batches, seedConcurrency, async (batch) => {
      let pending = batch.map((Item) => ({ PutRequest: { Item } }))
      while (pending.length > 0) {
        const { UnprocessedItems } = await db.send(
          new BatchWriteCommand({ RequestItems: { [localNames.table]: pending } }),
        )
        pending = (UnprocessedItems?.[localNames.table] ?? []) as typeof pending
      }
    })
    // The head moves past the seeded log, as appends would have moved it.
    await db.send(
      new UpdateCommand({
        TableName: localNames.table,
        Key: keys.group(gid),
        UpdateExpression: 'SET seq = :head',
        ExpressionAttributeValues: { ':head': size.messages },
      }),
    )
    const body = Buffer.alloc(64, 1)
    await mapLimited([avatar, ...files], seedConcurrency, (key) =>
      s3.send(new PutObjectCommand({ Bucket: localNames.bucket, Key: key, Body: body })),
    )
    return { items: (await countItems(gid)) - 1, objects: files.length + 1 }
  }
}

/** Every object under the group's prefixes. */
async function objectsOf(bucket: S3Objects, gid: string): Promise<string[]> {
  const prefixes = [bucketPrefixes.avatars, bucketPrefixes.files, bucketPrefixes.mls]
  return (await Promise.all(prefixes.map((prefix) => bucket.list(`${prefix}${gid}/`)))).flat()
}

if (resolvePath(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) await main()
