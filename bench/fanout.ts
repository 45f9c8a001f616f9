import { randomBytes } from 'node:crypto'
import { resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { limits } from '@huddle/client/protocol'
import { dynamoStores } from '../lambdas/adapters/dynamo/stores.js'
import { DynamoTable } from '../lambdas/adapters/dynamo/table.js'
import { SignedPostSender } from '../lambdas/adapters/management-api.js'
import { S3Objects } from '../lambdas/adapters/s3-objects.js'
import { type Caller, Chat } from '../lambdas/core/chat.js'
import { forEachLimited } from '../lambdas/core/concurrency.js'
import type { Member } from '../lambdas/core/model.js'
import type { EventSender, RateLimit, Stores } from '../lambdas/core/ports.js'
import type { RateBucket } from '../lambdas/core/rate-limits.js'
import { defaultChatSettings } from '../lambdas/settings.js'
import { emulatorClientConfig } from '../local/emulators.js'
import { localNames } from '../local/stack.js'
import { countingDynamoClient, type DynamoTally, sequentialRoundTrips } from './dynamo-counter.js'
import { measurePostCpu } from './post-cost.js'
import { mergeResults, readResults } from './results-file.js'
import { startStackProcess } from './stack-process.js'
import {
  addFigures,
  announceMachine,
  type Machine,
  printMoved,
  printTable,
  quantile,
  round,
} from './stats.js'
import { BenchClient, mapLimited } from './ws-client.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const quick = process.argv.includes('--quick')
/** The largest group, measured end to end through the gateway, its fan-out shared with workers; and the
 * connections a function posts before it hands slices over (the deployed default). */
const largest = { members: quick ? 1500 : 10_000, messages: quick ? 2 : 5, sliceSize: 1000 }
/** Connected identities in no group: any copy that reaches one is a problem. */
const nonMembers = 20
/** Group sizes and how many messages each is measured over (handler, floor and end to end each). */
const plan = quick
  ? [
      { members: 10, messages: 20 },
      { members: 100, messages: 20 },
    ]
  : [
      { members: 10, messages: 200 },
      { members: 100, messages: 200 },
      { members: 1000, messages: 50 },
    ]
// DynamoDB Local (Java) and V8 get faster as they warm up: the first group gets a longer warm-up.
const warmup = { first: 50, each: 5 }
/** History pages and catch-ups timed per group, after a few unmeasured ones. */
const reads = { runs: quick ? 20 : 50, warmup: 5 }
/** The largest history page, the one a catching-up client asks for. */
const page = limits.historyPage
// Three pages' worth, so a newest-first page ends mid-log and a catch-up starts mid-log.
const logEvents = 3 * page
// As deployed by default, so the floor posts exactly as the handler does.
const { fanOutConcurrency } = defaultChatSettings
const body = 'x'.repeat(100)
/** One identity sends every measured message, far faster than the deployed limits allow: the limiter still
 * takes a token for each (its cost is measured), but never refuses one. */
export const unlimited: Record<RateBucket, RateLimit> = {
  messages: { perSecond: 1_000_000, burst: 1_000_000 },
  writes: { perSecond: 1_000_000, burst: 1_000_000 },
}

/** The figures of one group size. */
interface FanOutResult {
  members: number
  messages: number
  dynamo: {
    /** Mean calls per message, by operation. */
    callsPerMessage: Record<string, number>
    requestsPerMessage: number
    /** Median milliseconds one call of each operation took (a message's BatchGets run concurrently). */
    millisPerCall: Record<string, number>
    readUnitsPerMessage: number
    writeUnitsPerMessage: number
    /** Items TransactWriteItems put, updated or deleted per message; DynamoDB bills each 2 WCU per KB. */
    itemsWrittenPerMessage: number
    /** Whether DynamoDB (Local) returned ConsumedCapacity at all. */
    capacityReported: boolean
  }
  /** DynamoDB round trips made one after another before the first post (overlapping calls count once). */
  roundTripsBeforeFirstPost: { p50: number; max: number }
  postsPerMessage: number
  postsPerConnection: { min: number; max: number }
  handlerMs: { p50: number; p99: number }
  floorMs: { p50: number; p99: number }
  /** Median handler time over median floor time: what storage adds on top of the posts themselves. */
  handlerOverFloor: number
  endToEndMs: { p50: number; p99: number }
  deliveriesPerSecond: number
  /** What the per-identity rate limiter adds to a message: the same handler run with and without it
   * (groups of up to `limiterCompared` members: past them, the posts dwarf it and the run would be long). */
  rateLimiter?: RateLimiterCost
}

/** The largest group whose messages also run without the rate limiter. */
const limiterCompared = 100

/** The rate limiter's cost per message, from the same messages run through a Chat whose store takes
 * tokens and one whose store skips them. */
interface RateLimiterCost {
  /** Local's write units per message with the limiter, and without it. */
  writeUnitsWith: number
  writeUnitsWithout: number
  handlerMsWithout: { p50: number; p99: number }
  /** Median handler time with the limiter over the median without it. */
  handlerWithOverWithout: number
  /** DynamoDB round trips in sequence before the first post, without the limiter (max over messages). */
  roundTripsWithout: number
}

/** The largest group: messages sent through the gateway, the function posting the first slice and
 * workers the others. */
interface LargestGroupResult {
  members: number
  messages: number
  /** Slices per message: the function's own and the workers'. */
  slices: number
  /** Every other member got every message exactly once, and no one else got any. */
  exactlyOnce: boolean
  endToEndMs: { p50: number; max: number }
  deliveriesPerSecond: number
}

/** What a message reads in a large group (its posts dropped): in a function instance that holds none of the
 * group's recipient shards yet, and in one that read them before (mean over `warmReads` messages). */
interface RecipientReadsResult {
  members: number
  coldReadUnits: number
  warmReadUnits: number
  coldRequests: number
  warmRequests: number
}

/** Messages whose read units make the warm figure. */
const warmReads = 10

/** The most memory (V8 heap and buffers, bytes) each function's instance held during one group's run. */
interface MemoryResult {
  members: number
  peakBytes: Record<string, number>
}

/** A read measured in one group: its DynamoDB cost per run and the time the core takes. */
interface ReadResult {
  members: number
  /** Events in the group's log while it was read. */
  logEvents: number
  runs: number
  /** Events the history page returned. */
  eventsReturned: number
  dynamo: {
    /** Mean calls per run, by operation. */
    callsPerRun: Record<string, number>
    requestsPerRun: number
    /** Median milliseconds one call of each operation took. */
    millisPerCall: Record<string, number>
    readUnitsPerRun: number
    capacityReported: boolean
  }
  ms: { p50: number; p99: number }
}

/** A catch-up: one sync, then one history page after head − page. */
interface CatchUpResult extends ReadResult {
  /** Groups the reader's sync listed: its BatchGet reads one group item each. */
  groupsSynced: number
}

interface Results {
  ranAt: string
  machine: Machine
  fanOut: FanOutResult[]
  largestGroup: LargestGroupResult
  /** Read units of a message at 1,000 members and at the largest size, cold and warm. */
  recipientReads: RecipientReadsResult[]
  /** Each function's peak memory while the gateway served a group's messages. */
  memory: MemoryResult[]
  /** One newest-first history page of `page` events, per group size. */
  history: ReadResult[]
  /** Catching up `page` events in one group, per group size. */
  catchUp: CatchUpResult[]
  /** CPU milliseconds the sending process spends per post with the sender the functions use (the lean
   * SignedPostSender), against a do-nothing endpoint. */
  postCpuMs: number
  /** The same with the plain SDK client, measured in the same run. */
  postCpuMsSdk: number
}

/** Counts the posts of each connection, so one fan-out can be checked for exactly one per recipient. */
class CountingSender implements EventSender {
  readonly posts = new Map<string, number>()
  /** When the first post since the last reset started (performance.now()). */
  firstPostAt: number | undefined
  constructor(private readonly inner: EventSender) {}

  reset(): void {
    this.posts.clear()
    this.firstPostAt = undefined
  }

  send(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    this.firstPostAt ??= performance.now()
    this.posts.set(connectionId, (this.posts.get(connectionId) ?? 0) + 1)
    return this.inner.send(connectionId, data)
  }
}

/** The same stores with a rate-bucket port that always has a token: the message path without the limiter, to
 * measure what it adds. */
function withoutRateBuckets(stores: Stores): Stores {
  return { ...stores, takeToken: async () => undefined }
}

async function main(): Promise<void> {
  const machine = await announceMachine()
  const runId = randomBytes(3).toString('hex')
  const started = Date.now()
  console.log('starting the local stack in a process of its own…')
  const stack = await startStackProcess({
    port: 0,
    fanOutSliceSize: largest.sliceSize,
    rateLimits: unlimited,
  })
  const problems: string[] = []
  let clients: BenchClient[] = []
  try {
    const identities = Array.from(
      { length: largest.members + nonMembers },
      (_, i) => `bench-${runId}-${String(i).padStart(5, '0')}`,
    )
    clients = await connectAll(stack.url, identities)

    const counter = countingDynamoClient(stack.dynamoEndpoint)
    const store = dynamoStores(new DynamoTable(counter.db, localNames.table))
    // The sender the functions use (environment.ts), so that the handler and the floor post alike.
    const management = new SignedPostSender({
      endpoint: stack.url,
      region: emulatorClientConfig.region,
      credentials: async () => emulatorClientConfig.credentials,
      maxSockets: fanOutConcurrency,
    })
    const sender = new CountingSender(management)
    const objects = new S3Objects({
      bucket: localNames.bucket,
      region: emulatorClientConfig.region,
      credentials: async () => emulatorClientConfig.credentials,
      endpoint: stack.s3Endpoint,
    })
    const chat = new Chat({ store, objects, sender, settings: { fanOutConcurrency }, rateLimits: unlimited })
    const tokenFree = withoutRateBuckets(store)
    const chatWithoutLimiter = new Chat({
      store: tokenFree,
      objects,
      sender,
      settings: { fanOutConcurrency },
    })
    // Fills the logs the reads are measured on (seedLog); its posts go nowhere.
    const seeder = new Chat({
      store: tokenFree,
      objects,
      sender: { send: async () => 'sent' },
      settings: { fanOutConcurrency },
    })

    const fanOut: FanOutResult[] = []
    const memory: MemoryResult[] = []
    for (const { members, messages } of plan) {
      console.log(
        `group of ${members}: ${messages} messages each through the handler, the floor and the gateway…`,
      )
      const group = clients.slice(0, members)
      const gid = `bench-${runId}-g${members}`
      await createJoinedGroup(
        store,
        gid,
        group.map((c) => c.iss),
      )
      counter.reset()
      await peakMemory(stack.url) // from here on
      const result = await measureGroup({
        httpUrl: stack.url,
        gid,
        group,
        clients,
        chat,
        chatWithoutLimiter,
        sender,
        management,
        counter,
        messages,
        warmup: fanOut.length === 0 ? warmup.first : warmup.each,
        problems,
      })
      fanOut.push(result)
      if (members >= 1000) memory.push({ members, peakBytes: await peakMemory(stack.url) })
    }
    const recipientReads: RecipientReadsResult[] = []
    const [sender0] = clients
    if (sender0 === undefined) throw new Error('no clients')
    const readsOf = async (members: number) => {
      const caller = { iss: sender0.iss, connectionId: await connectionIdOf(stack.url, sender0) }
      const gid = `bench-${runId}-g${members}`
      recipientReads.push(await measureRecipientReads(counter, objects, caller, gid, members))
    }
    if (plan.some((p) => p.members === 1000)) await readsOf(1000)

    // After every group exists, so the reader's sync lists the same groups whatever the size read.
    const [owner] = clients
    if (owner === undefined) throw new Error('no clients')
    const reader = { iss: owner.iss, connectionId: await connectionIdOf(stack.url, owner) }
    const history: ReadResult[] = []
    const catchUp: CatchUpResult[] = []
    for (const { members } of plan) {
      const gid = `bench-${runId}-g${members}`
      console.log(
        `group of ${members}: log topped up to ${logEvents} events, then ${reads.runs} history pages and catch-ups…`,
      )
      const head = await seedLog(seeder, store, reader, gid)
      const result = await measureReads({ chat, counter, reader, gid, members, head, problems })
      history.push(result.history)
      catchUp.push(result.catchUp)
    }

    console.log(
      `group of ${largest.members}: ${largest.messages} messages through the gateway, ` +
        `each handed to workers in slices of ${largest.sliceSize}…`,
    )
    const gid = `bench-${runId}-g${largest.members}`
    await createJoinedGroup(
      store,
      gid,
      clients.slice(0, largest.members).map((c) => c.iss),
    )
    await peakMemory(stack.url)
    const largestGroup = await measureLargestGroup(gid, clients, problems)
    memory.push({ members: largest.members, peakBytes: await peakMemory(stack.url) })
    console.log(`group of ${largest.members}: read units of a message, cold and warm…`)
    await readsOf(largest.members)

    console.log('timing the CPU cost of one post…')
    const postCpu = await measurePostCpu(2000, fanOutConcurrency)
    const results: Results = {
      ranAt: new Date().toISOString(),
      machine,
      fanOut,
      largestGroup,
      recipientReads,
      memory,
      history,
      catchUp,
      postCpuMs: postCpu.leanMs,
      postCpuMsSdk: postCpu.sdkMs,
    }
    report(results)
    const previous = await readPrevious()
    if (previous) printMoved(figures(previous), figures(results), previous.ranAt)
    // A quick run or one with problems is not a baseline to compare later runs with.
    if (!quick && problems.length === 0) await mergeResults({ ...results })
    console.log(`whole run: ${round((Date.now() - started) / 1000, 1)} s`)
  } finally {
    // The gateway ends the clients' connections as it stops.
    await stack.stop()
  }
  if (problems.length > 0) {
    console.error(`\n${problems.length} problem(s):\n${problems.slice(0, 20).join('\n')}`)
    process.exitCode = 1
  }
}

/**
 * Writes a group whose members have all joined straight to the store (no O(n²) join events); the store
 * puts each in a recipient shard with its identity's open connections, as a join does.
 */
export async function createJoinedGroup(store: Stores, gid: string, identities: string[]): Promise<void> {
  const at = new Date().toISOString()
  const [owner = '', ...others] = identities
  const member = (iss: string, role: Member['role']): Member => ({
    gid,
    iss,
    status: 'joined',
    role,
    invitedBy: owner,
    invitedAt: at,
    since: 0,
    joinedAt: at,
    joinSeq: 0,
  })
  const batch = 50
  await store.createGroup(
    { gid, name: `bench ${identities.length}`, createdBy: owner, createdAt: at, head: 0, departedSeq: 0 },
    [member(owner, 'admin'), ...others.slice(0, batch - 1).map((iss) => member(iss, 'member'))],
  )
  for (let i = batch - 1; i < others.length; i += batch) {
    await store.addMembers(
      gid,
      0,
      others.slice(i, i + batch).map((iss) => member(iss, 'member')),
    )
  }
}

interface GroupRun {
  httpUrl: string
  gid: string
  group: BenchClient[]
  clients: BenchClient[]
  chat: Chat
  /** The same Chat over a store that takes no rate tokens. */
  chatWithoutLimiter: Chat
  sender: CountingSender
  management: SignedPostSender
  counter: ReturnType<typeof countingDynamoClient>
  messages: number
  warmup: number
  problems: string[]
}

/**
 * Per message, in turn: the handler's work (Chat.message), the floor (its posts alone) and a message
 * sent through the gateway; interleaved so that a slow patch of the machine hits all three alike. Beside
 * each, the handler's work without the rate limiter, before it on every other message and after it on
 * the others, so that neither always runs second.
 */
async function measureGroup(run: GroupRun): Promise<FanOutResult> {
  const { gid, group, chat, chatWithoutLimiter, sender, management, counter, messages, problems } = run
  const first = group[0]
  if (first === undefined) throw new Error('empty group')
  const caller = { iss: first.iss, connectionId: await connectionIdOf(run.httpUrl, first) }
  const recipients = group.length - 1
  const endToEnd = endToEndProbe(gid, group, run.clients, problems)

  const handlerMs: number[] = []
  const floorMs: number[] = []
  const endToEndMs: number[] = []
  let endToEndBusyMs = 0
  const tallies: DynamoTally[] = []
  const roundTrips: number[] = []
  let minPosts = Number.POSITIVE_INFINITY
  let maxPosts = 0
  let totalPosts = 0
  const withoutLimiterMs: number[] = []
  const withoutLimiterTallies: DynamoTally[] = []
  const withoutLimiterRoundTrips: number[] = []
  const withoutLimiter = async (i: number) => {
    counter.reset()
    sender.reset()
    const jti = `n${i}-${randomBytes(4).toString('hex')}`
    const startedAt = performance.now()
    await chatWithoutLimiter.conversation.message(caller, { gid, body, jti })
    const time = performance.now() - startedAt
    const tally = counter.reset()
    return { time, tally, rounds: sequentialRoundTrips(tally.spans, sender.firstPostAt) }
  }
  const compare = group.length <= limiterCompared
  for (let i = 0; i < run.warmup + messages; i++) {
    const before = compare && i % 2 === 1 ? await withoutLimiter(i) : undefined
    counter.reset()
    sender.reset()
    const jti = `h${i}-${randomBytes(4).toString('hex')}`
    const startedAt = performance.now()
    const ack = await chat.conversation.message(caller, { gid, body, jti })
    const handlerTime = performance.now() - startedAt
    const tally = counter.reset()
    const posts = new Map(sender.posts)
    const rounds = sequentialRoundTrips(tally.spans, sender.firstPostAt)
    const without = before ?? (compare ? await withoutLimiter(i) : undefined)
    const floorTime = await floor(
      management,
      [...posts.keys()],
      eventText(gid, caller.iss, jti, ack.iat, ack.seq),
    )
    const trip = await endToEnd.once(`e${i}-${randomBytes(4).toString('hex')}`)
    if (i < run.warmup) continue
    handlerMs.push(handlerTime)
    floorMs.push(floorTime)
    endToEndMs.push(trip.latency)
    endToEndBusyMs += trip.busy
    tallies.push(tally)
    roundTrips.push(rounds)
    if (without) {
      withoutLimiterMs.push(without.time)
      withoutLimiterTallies.push(without.tally)
      withoutLimiterRoundTrips.push(without.rounds)
    }
    for (const count of posts.values()) {
      minPosts = Math.min(minPosts, count)
      maxPosts = Math.max(maxPosts, count)
      totalPosts += count
    }
    if (posts.size !== recipients) {
      problems.push(`${gid} ${jti}: posted to ${posts.size} connections, expected ${recipients}`)
    }
  }
  endToEnd.stop()

  const cost = dynamoCost(tallies)
  const handler = percentiles(handlerMs)
  const floorFigures = percentiles(floorMs)
  const handlerWithout = percentiles(withoutLimiterMs)
  return {
    members: group.length,
    messages,
    dynamo: {
      callsPerMessage: cost.calls,
      requestsPerMessage: cost.requests,
      millisPerCall: cost.millisPerCall,
      readUnitsPerMessage: cost.readUnits,
      writeUnitsPerMessage: cost.writeUnits,
      itemsWrittenPerMessage: cost.itemsWritten,
      capacityReported: cost.capacityReported,
    },
    roundTripsBeforeFirstPost: { p50: quantile(roundTrips, 0.5), max: Math.max(...roundTrips) },
    postsPerMessage: round(totalPosts / messages),
    postsPerConnection: { min: minPosts, max: maxPosts },
    handlerMs: handler,
    floorMs: floorFigures,
    handlerOverFloor: round(handler.p50 / floorFigures.p50),
    endToEndMs: percentiles(endToEndMs),
    deliveriesPerSecond: round((recipients * messages) / (endToEndBusyMs / 1000), 0),
    ...(compare && {
      rateLimiter: {
        writeUnitsWith: cost.writeUnits,
        writeUnitsWithout: dynamoCost(withoutLimiterTallies).writeUnits,
        handlerMsWithout: handlerWithout,
        handlerWithOverWithout: round(handler.p50 / handlerWithout.p50),
        roundTripsWithout: Math.max(...withoutLimiterRoundTrips),
      },
    }),
  }
}

/**
 * Messages to the largest group, sent by its first member through the gateway, each checked for exactly
 * one copy per other member and none elsewhere; one unmeasured message first starts the workers.
 */
async function measureLargestGroup(
  gid: string,
  clients: BenchClient[],
  problems: string[],
): Promise<LargestGroupResult> {
  const group = clients.slice(0, largest.members)
  const before = problems.length
  const probe = endToEndProbe(gid, group, clients, problems)
  const latencies: number[] = []
  let busyMs = 0
  for (let i = 0; i <= largest.messages; i++) {
    const trip = await probe.once(`l${i}-${randomBytes(4).toString('hex')}`, 120_000)
    if (i === 0) continue
    latencies.push(trip.latency)
    busyMs += trip.busy
  }
  // A late second copy would arrive about now.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  probe.stop()
  return {
    members: largest.members,
    messages: largest.messages,
    slices: Math.ceil((largest.members - 1) / largest.sliceSize),
    exactlyOnce: problems.length === before,
    endToEndMs: { p50: round(quantile(latencies, 0.5)), max: round(Math.max(...latencies)) },
    deliveriesPerSecond: round(((largest.members - 1) * largest.messages) / (busyMs / 1000), 0),
  }
}

/**
 * Read units of messages in group `gid` through a Chat of their own (a fresh function instance: its store
 * holds no recipient shard yet), their posts dropped: the first message's, then the mean of the next ones.
 */
async function measureRecipientReads(
  counter: ReturnType<typeof countingDynamoClient>,
  objects: S3Objects,
  caller: Caller,
  gid: string,
  members: number,
): Promise<RecipientReadsResult> {
  const store = withoutRateBuckets(dynamoStores(new DynamoTable(counter.db, localNames.table)))
  const fresh = new Chat({
    store,
    objects,
    sender: { send: async () => 'sent' },
    settings: { fanOutConcurrency },
  })
  const message = async () => {
    counter.reset()
    const jti = `r-${randomBytes(4).toString('hex')}`
    await fresh.conversation.message(caller, { gid, body, jti })
    return counter.reset()
  }
  const cold = dynamoCost([await message()])
  const tallies: DynamoTally[] = []
  for (let i = 0; i < warmReads; i++) tallies.push(await message())
  const warm = dynamoCost(tallies)
  return {
    members,
    coldReadUnits: cold.readUnits,
    warmReadUnits: warm.readUnits,
    coldRequests: cold.requests,
    warmRequests: warm.requests,
  }
}

/** Each function's peak memory since the last read, from the local gateway's dev endpoint. */
async function peakMemory(httpUrl: string): Promise<Record<string, number>> {
  return (await (await fetch(`${httpUrl}/dev/memory`)).json()) as Record<string, number>
}

/** Connects a client for each identity, a few dozen at a time, saying how far it got. */
export async function connectAll(httpUrl: string, identities: string[]): Promise<BenchClient[]> {
  console.log(`connecting ${identities.length} WebSocket clients…`)
  let connected = 0
  return mapLimited(identities, 48, async (iss) => {
    const client = await BenchClient.connect(httpUrl, iss)
    if (++connected % 2000 === 0) console.log(`  ${connected} connected`)
    return client
  })
}

/**
 * Sends messages until the group's log holds `logEvents` events; returns its head. They go through
 * `Chat.conversation.message`, not straight to the store, so the log holds exactly what the message path
 * writes (event item, jti marker, head); only the posts are dropped, which at 1,000 members would be
 * 999 per message.
 */
async function seedLog(seeder: Chat, store: Stores, caller: Caller, gid: string): Promise<number> {
  let head = (await store.readGroup(gid))?.group.head ?? 0
  while (head < logEvents) {
    const jti = `s${head}-${randomBytes(4).toString('hex')}`
    head = (await seeder.conversation.message(caller, { gid, body, jti })).seq
  }
  return head
}

interface ReadRun {
  chat: Chat
  counter: ReturnType<typeof countingDynamoClient>
  reader: Caller
  gid: string
  members: number
  head: number
  problems: string[]
}

/**
 * Per run, in turn: one newest-first history page, and a catch-up of one page (sync, then history after
 * head − page), as a client does after a reconnect. Each reply is checked for the seqs it must hold.
 */
async function measureReads(run: ReadRun): Promise<{ history: ReadResult; catchUp: CatchUpResult }> {
  const { chat, counter, reader, gid, head, problems } = run
  const pageMs: number[] = []
  const catchUpMs: number[] = []
  const pageTallies: DynamoTally[] = []
  const catchUpTallies: DynamoTally[] = []
  let pageEvents = 0
  let caughtUpEvents = 0
  let groupsSynced = 0
  const seqs = (events: { seq: number }[]) => events.map((e) => e.seq).join()
  const expected = (from: number, step: number) =>
    Array.from({ length: page }, (_, k) => from + k * step).join()
  for (let i = 0; i < reads.warmup + reads.runs; i++) {
    counter.reset()
    let startedAt = performance.now()
    const newest = await chat.conversation.history(reader, { gid, limit: page })
    const pageTime = performance.now() - startedAt
    const pageTally = counter.reset()

    startedAt = performance.now()
    const synced = await chat.membership.sync(reader, {})
    const caughtUp = await chat.conversation.history(reader, { gid, after: head - page, limit: page })
    const catchUpTime = performance.now() - startedAt
    const catchUpTally = counter.reset()

    if (seqs(newest.events) !== expected(head, -1) || newest.next !== head - page + 1) {
      problems.push(`${gid}: newest-first history page does not hold seqs ${head}…${head - page + 1}`)
    }
    if (synced.groups.find((g) => g.gid === gid)?.head !== head) {
      problems.push(`${gid}: sync does not list the group at head ${head}`)
    }
    if (seqs(caughtUp.events) !== expected(head - page + 1, 1) || caughtUp.next !== undefined) {
      problems.push(`${gid}: catch-up page does not hold seqs ${head - page + 1}…${head} alone`)
    }
    if (i < reads.warmup) continue
    pageMs.push(pageTime)
    catchUpMs.push(catchUpTime)
    pageTallies.push(pageTally)
    catchUpTallies.push(catchUpTally)
    pageEvents = newest.events.length
    caughtUpEvents = caughtUp.events.length
    groupsSynced = synced.groups.length
  }
  const result = (tallies: DynamoTally[], ms: number[], eventsReturned: number): ReadResult => {
    const cost = dynamoCost(tallies)
    return {
      members: run.members,
      logEvents: head,
      runs: reads.runs,
      eventsReturned,
      dynamo: {
        callsPerRun: cost.calls,
        requestsPerRun: cost.requests,
        millisPerCall: cost.millisPerCall,
        readUnitsPerRun: cost.readUnits,
        capacityReported: cost.capacityReported,
      },
      ms: percentiles(ms),
    }
  }
  return {
    history: result(pageTallies, pageMs, pageEvents),
    catchUp: { ...result(catchUpTallies, catchUpMs, caughtUpEvents), groupsSynced },
  }
}

/** Mean DynamoDB cost per run over `tallies`, and the median time of one call of each operation. */
function dynamoCost(tallies: DynamoTally[]) {
  const calls: Record<string, number> = {}
  for (const tally of tallies) {
    for (const [operation, count] of Object.entries(tally.calls))
      calls[operation] = (calls[operation] ?? 0) + count
  }
  const mean = (pick: (t: DynamoTally) => number) =>
    round(tallies.reduce((s, t) => s + pick(t), 0) / tallies.length)
  return {
    calls: Object.fromEntries(
      Object.entries(calls).map(([operation, count]) => [operation, round(count / tallies.length)]),
    ),
    millisPerCall: Object.fromEntries(
      Object.keys(calls).map((operation) => [
        operation,
        round(
          quantile(
            tallies.map((t) => (t.millis[operation] ?? 0) / (t.calls[operation] ?? 1)),
            0.5,
          ),
        ),
      ]),
    ),
    requests: mean((t) => t.attempts),
    readUnits: mean((t) => t.readUnits),
    writeUnits: mean((t) => t.writeUnits),
    itemsWritten: mean((t) => t.itemsWritten),
    capacityReported: tallies.every((t) => t.withCapacity > 0),
  }
}

function percentiles(values: number[]): { p50: number; p99: number } {
  return { p50: round(quantile(values, 0.5)), p99: round(quantile(values, 0.99)) }
}

/** The same posts the handler made, to the same endpoint with the same concurrency, and nothing else. */
async function floor(management: SignedPostSender, targets: string[], data: string): Promise<number> {
  const startedAt = performance.now()
  await forEachLimited(targets, fanOutConcurrency, async (connectionId) => {
    await management.send(connectionId, data)
  })
  return performance.now() - startedAt
}

function eventText(gid: string, iss: string, jti: string, iat: string, seq: number): string {
  return JSON.stringify({ type: 'chat.message', gid, iss, jti, body, iat, seq })
}

/**
 * Sends messages as client frames through the gateway and times each from the send to the last
 * recipient's receipt. Every other member must get each exactly once: a copy that reaches the sender, a
 * non-member or a member twice (even after its message was done) is a problem.
 */
function endToEndProbe(gid: string, group: BenchClient[], clients: BenchClient[], problems: string[]) {
  const [first] = group
  if (first === undefined) throw new Error('empty group')
  const members = new Set(group.map((c) => c.iss))
  const done = new Set<string>()
  let flight: { jti: string; seen: Set<BenchClient>; lastAt: number; arrived: () => void } | undefined
  for (const client of clients) {
    client.onEvent = (frame) => {
      if (frame.type !== 'chat.message' || typeof frame.jti !== 'string') return
      const current = flight?.jti === frame.jti ? flight : undefined
      if (current === undefined) {
        if (done.has(frame.jti)) problems.push(`${gid} ${frame.jti} reached ${client.iss} again, late`)
        return
      }
      if (client === first || !members.has(client.iss) || current.seen.has(client)) {
        problems.push(
          `${gid} ${current.jti} reached ${client.iss} ${current.seen.has(client) ? 'twice' : ''}`,
        )
        return
      }
      current.seen.add(client)
      if (current.seen.size === group.length - 1) {
        current.lastAt = performance.now()
        current.arrived()
      }
    }
  }
  return {
    /** Latency to the last receipt, and the time until both that and the ack were in. */
    async once(jti: string, timeoutMs = 30_000): Promise<{ latency: number; busy: number }> {
      let sentAt = 0
      const arrived = new Promise<void>((resolve) => {
        flight = { jti, seen: new Set(), lastAt: 0, arrived: resolve }
      })
      const reply = first.request('message', { gid, body, jti }, () => {
        sentAt = performance.now()
      })
      const [ack] = await withTimeout(Promise.all([reply, arrived]), timeoutMs, `${gid} ${jti}: delivery`)
      const doneAt = performance.now()
      if (ack.type !== 'ack') problems.push(`${gid} ${jti}: ${JSON.stringify(ack)}`)
      done.add(jti)
      return { latency: (flight?.lastAt ?? doneAt) - sentAt, busy: doneAt - sentAt }
    },
    stop(): void {
      flight = undefined
      for (const client of clients) client.onEvent = () => {}
    },
  }
}

/** Rejects when `promise` takes longer than `ms`, so a lost event fails the run instead of hanging it. */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** The gateway-assigned id of a client's one connection, from the local gateway's dev endpoint. */
async function connectionIdOf(httpUrl: string, client: BenchClient): Promise<string> {
  const url = new URL(`${httpUrl}/dev/connections`)
  url.searchParams.set('sub', client.iss)
  const { connectionIds } = (await (await fetch(url)).json()) as { connectionIds: string[] }
  const [id] = connectionIds
  if (id === undefined) throw new Error(`${client.iss} has no open connection`)
  return id
}

/** The operations any of `calls` used, in first-seen order, for one column each. */
function operationsOf(calls: Record<string, number>[]): string[] {
  return [...new Set(calls.flatMap((c) => Object.keys(c)))]
}

/** "calls × median ms" for each operation. */
function callCells(operations: string[], calls: Record<string, number>, millis: Record<string, number>) {
  return operations.map((operation) => `${calls[operation] ?? 0} × ${millis[operation] ?? 0} ms`)
}

function report(results: Results): void {
  console.log('\nread units of a message in a large group (recipient shards; posts dropped)\n')
  printTable(
    ['members', 'cold RCU', 'cold requests', `warm RCU (mean of ${warmReads})`, 'warm requests'],
    results.recipientReads.map((r) => [
      r.members,
      r.coldReadUnits,
      r.coldRequests,
      r.warmReadUnits,
      r.warmRequests,
    ]),
  )
  console.log('\nDynamoDB per message (calls × median ms per call, by operation)\n')
  const operations = operationsOf(results.fanOut.map((r) => r.dynamo.callsPerMessage))
  printTable(
    [
      'members',
      ...operations,
      'requests',
      'in sequence before 1st post',
      'RCU',
      "WCU (Local's)",
      'items written',
    ],
    results.fanOut.map((r) => [
      r.members,
      ...callCells(operations, r.dynamo.callsPerMessage, r.dynamo.millisPerCall),
      r.dynamo.requestsPerMessage,
      r.roundTripsBeforeFirstPost.max,
      r.dynamo.capacityReported ? r.dynamo.readUnitsPerMessage : 'n/a',
      r.dynamo.capacityReported ? r.dynamo.writeUnitsPerMessage : 'n/a',
      r.dynamo.itemsWrittenPerMessage,
    ]),
  )
  console.log('\nfan-out per message (handler = Chat.message; floor = the same posts alone)\n')
  printTable(
    [
      'members',
      'posts',
      'posts/conn',
      'handler p50/p99 ms',
      'floor p50/p99 ms',
      'handler/floor',
      'e2e p50/p99 ms',
      'deliveries/s',
    ],
    results.fanOut.map((r) => [
      r.members,
      r.postsPerMessage,
      r.postsPerConnection.min === r.postsPerConnection.max
        ? r.postsPerConnection.min
        : `${r.postsPerConnection.min}–${r.postsPerConnection.max}`,
      `${r.handlerMs.p50} / ${r.handlerMs.p99}`,
      `${r.floorMs.p50} / ${r.floorMs.p99}`,
      r.handlerOverFloor,
      `${r.endToEndMs.p50} / ${r.endToEndMs.p99}`,
      r.deliveriesPerSecond,
    ]),
  )
  console.log(
    `\nthe rate limiter per message, groups of up to ${limiterCompared} (the same handler over a store that ` +
      'takes no tokens, interleaved)\n',
  )
  printTable(
    [
      'members',
      "WCU with / without (Local's)",
      'handler p50 / p99 ms with',
      'without',
      'with/without',
      'in sequence before 1st post with / without',
    ],
    results.fanOut.flatMap(({ members, rateLimiter: r, handlerMs, roundTripsBeforeFirstPost }) =>
      r === undefined
        ? []
        : [
            [
              members,
              `${r.writeUnitsWith} / ${r.writeUnitsWithout}`,
              `${handlerMs.p50} / ${handlerMs.p99}`,
              `${r.handlerMsWithout.p50} / ${r.handlerMsWithout.p99}`,
              r.handlerWithOverWithout,
              `${roundTripsBeforeFirstPost.max} / ${r.roundTripsWithout}`,
            ],
          ],
    ),
  )
  console.log(
    `\nhistory: one page of ${page} events, newest first, from a log of ${logEvents} or more ` +
      '(Chat.conversation.history; calls × median ms per call)\n',
  )
  printReads(results.history)
  console.log(
    `\ncatch-up of ${page} events: one sync, then history after head − ${page} ` +
      '(Chat.membership.sync + Chat.conversation.history; calls × median ms per call)\n',
  )
  printReads(results.catchUp)
  console.log(
    `\nCPU per post: lean ${results.postCpuMs} ms, SDK ${results.postCpuMsSdk} ms, ` +
      `ratio ${round(results.postCpuMs / results.postCpuMsSdk, 2)} (goal ≤ 0.2 ms and ≤ 0.4×)` +
      '\n(CPU of the sending process: 2,000 posts to a do-nothing endpoint in another process, concurrency 32, ' +
      'median of 5 rounds each, the two senders alternating)',
  )
  const capacity = [...results.fanOut, ...results.history, ...results.catchUp].every(
    (r) => r.dynamo.capacityReported,
  )
    ? 'ConsumedCapacity as reported by DynamoDB Local (its own estimate, TOTAL only)'
    : 'DynamoDB Local returned no ConsumedCapacity for some calls: RCU/WCU are n/a'
  console.log(`\n${capacity}`)
  console.log(
    'Real DynamoDB bills each item a transaction writes at 2 WCU per KB: at least 2 × items written.',
  )
  const { largestGroup: l } = results
  console.log(
    `\nlargest group: ${l.members} members, ${l.messages} messages through the gateway, ${l.slices} slices ` +
      `each (the function's and ${l.slices - 1} workers'): end to end p50 ${l.endToEndMs.p50} ms, ` +
      `max ${l.endToEndMs.max} ms, ${l.deliveriesPerSecond} deliveries/s, ` +
      (l.exactlyOnce ? 'each member exactly once' : 'NOT exactly once'),
  )
  printMemory(results.memory)
  printGoals(results)
  const { machine } = results
  console.log(
    `\n${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.os}; ` +
      `${round(machine.cpuBusyAtStart * 100, 0)} % busy before the run`,
  )
}

/** Peak memory per function, one column per group size measured. */
function printMemory(memory: MemoryResult[]): void {
  console.log(
    "\npeak memory per function, MiB (V8 heap and buffers of its one local instance; Lambda's Max Memory" +
      ' Used adds the runtime, about 70 MB)\n',
  )
  const names = [...new Set(memory.flatMap((m) => Object.keys(m.peakBytes)))].sort()
  printTable(
    ['function', ...memory.map((m) => `${m.members} members`)],
    names.map((name) => [
      name,
      ...memory.map((m) => {
        const bytes = m.peakBytes[name]
        return bytes === undefined ? 'n/a' : round(bytes / 2 ** 20, 1)
      }),
    ]),
  )
}

/** Each figure the fan-out work aims at, beside its goal. */
function printGoals(results: Results): void {
  const at = (members: number) => results.fanOut.find((r) => r.members === members)
  const ratio = (members: number) => at(members)?.handlerOverFloor ?? Number.NaN
  const roundTrips = Math.max(
    ...results.fanOut.filter((r) => r.members <= 100).map((r) => r.roundTripsBeforeFirstPost.max),
  )
  const rcu = at(1000)?.dynamo.readUnitsPerMessage ?? Number.NaN
  const compared = results.fanOut.flatMap((r) => (r.rateLimiter ? [r.rateLimiter] : []))
  const limiterRoundTrips = roundTrips - Math.max(...compared.map((r) => r.roundTripsWithout))
  const limiterWcu = Math.max(...compared.map((r) => round(r.writeUnitsWith - r.writeUnitsWithout)))
  const { largestGroup, postCpuMs, postCpuMsSdk } = results
  const postRatio = round(postCpuMs / postCpuMsSdk, 2)
  const rows: [string, number | string, string, boolean][] = [
    ['sequential DynamoDB round trips before the first post, G ≤ 100', roundTrips, '≤ 2', roundTrips <= 2],
    ['handler / floor, G = 10', ratio(10), '≤ 2.0', ratio(10) <= 2],
    ['handler / floor, G = 100', ratio(100), '≤ 1.15', ratio(100) <= 1.15],
    ['handler / floor, G = 1,000', ratio(1000), '≤ 1.05', ratio(1000) <= 1.05],
    ['CPU per post, ms', postCpuMs, '≤ 0.2', postCpuMs <= 0.2],
    ['CPU per post, over the SDK client', postRatio, '≤ 0.4', postRatio <= 0.4],
    ['read units per message, G = 1,000', rcu, '≤ 120', rcu <= 120],
    [
      'round trips in sequence the rate limiter adds, G ≤ 100',
      limiterRoundTrips,
      '0',
      limiterRoundTrips === 0,
    ],
    ["write units the rate limiter adds per message (Local's)", limiterWcu, '≤ 1', limiterWcu <= 1],
    [
      'largest group reached exactly once per connection',
      largestGroup.exactlyOnce ? largestGroup.members : 'not exactly once',
      '10,000',
      largestGroup.exactlyOnce && largestGroup.members >= 10_000,
    ],
  ]
  console.log('\ngoals\n')
  printTable(
    ['figure', 'measured', 'goal', 'met'],
    rows.map(([figure, measured, goal, met]) => [figure, measured, goal, met ? 'yes' : 'no']),
  )
}

/** A history or catch-up table, one row per group size; catch-ups add the groups their sync listed. */
function printReads(rows: (ReadResult & { groupsSynced?: number })[]): void {
  const operations = operationsOf(rows.map((r) => r.dynamo.callsPerRun))
  const synced = rows.some((r) => r.groupsSynced !== undefined)
  printTable(
    [
      'members',
      ...(synced ? ['groups synced'] : []),
      'log',
      'returned',
      ...operations,
      'requests',
      'RCU',
      'p50 / p99 ms',
    ],
    rows.map((r) => [
      r.members,
      ...(synced ? [r.groupsSynced ?? ''] : []),
      r.logEvents,
      r.eventsReturned,
      ...callCells(operations, r.dynamo.callsPerRun, r.dynamo.millisPerCall),
      r.dynamo.requestsPerRun,
      r.dynamo.capacityReported ? r.dynamo.readUnitsPerRun : 'n/a',
      `${r.ms.p50} / ${r.ms.p99}`,
    ]),
  )
}

/** A results.json from before the read figures existed has no history or catch-up; one from before the
 * lean sender has no SDK post figure (its postCpuMs was the SDK client's); one from before the workers has
 * no largest group; one from before the recipient shards has no recipient reads. */
type Later = 'history' | 'catchUp' | 'postCpuMsSdk' | 'largestGroup' | 'memory' | 'recipientReads'
type StoredResults = Omit<Results, Later> & Partial<Pick<Results, Later>>

async function readPrevious(): Promise<StoredResults | undefined> {
  const file = await readResults()
  return Array.isArray(file.fanOut) ? (file as unknown as StoredResults) : undefined
}

/** Every numeric figure by a readable path, so two runs compare figure by figure. */
function figures(results: StoredResults): Map<string, number> {
  const flat = new Map<string, number>()
  const walk = (prefix: string, value: unknown) => addFigures(flat, prefix, value)
  for (const r of results.fanOut)
    walk(`${r.members} members`, { ...r, members: undefined, messages: undefined })
  const read = (r: ReadResult) => ({ ...r, members: undefined, runs: undefined, logEvents: undefined })
  for (const m of results.memory ?? []) walk(`memory.${m.members} members`, m.peakBytes)
  if (results.largestGroup) walk(`${results.largestGroup.members} members`, { ...results.largestGroup })
  for (const r of results.recipientReads ?? [])
    walk(`recipientReads.${r.members} members`, { ...r, members: undefined })
  for (const r of results.history ?? []) walk(`history.${r.members} members`, read(r))
  for (const r of results.catchUp ?? []) walk(`catchUp.${r.members} members`, read(r))
  flat.set('postCpuMs', results.postCpuMs)
  if (results.postCpuMsSdk !== undefined) flat.set('postCpuMsSdk', results.postCpuMsSdk)
  return flat
}

// Run, not imported (bench/pacing.ts reuses its helpers).
if (resolvePath(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) await main()
