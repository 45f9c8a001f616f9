import { randomBytes } from 'node:crypto'
import { dynamoStores } from '../lambdas/adapters/dynamo/stores.js'
import { DynamoTable } from '../lambdas/adapters/dynamo/table.js'
import { fanOutWorker } from '../lambdas/routes.js'
import type { AwsBehaviourCounters, AwsBehaviours } from '../local/aws-behaviours.js'
import { emulatorDynamoClient } from '../local/emulators.js'
import type { PostRate } from '../local/gateway/limits.js'
import { localFanOutPostsPerSecond, localNames } from '../local/stack.js'
import { connectAll, createJoinedGroup } from './fanout.js'
import { saveResults } from './results-file.js'
import { startStackProcess } from './stack-process.js'
import { announceMachine, type Machine, printTable, quantile, round } from './stats.js'
import type { BenchClient, PushedFrame } from './ws-client.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const quick = process.argv.includes('--quick')
/** The broadcast's group, its messages measured alone (after one that starts the workers), and its slices. */
const broadcast = { members: quick ? 2000 : 10_000, messages: quick ? 2 : 3, sliceSize: 1000 }
/** The small groups talking: each says something every `everyMs` (jittered), from each member in turn. */
const small = { groups: quick ? 20 : 100, members: 5, everyMs: 2000 }
/** How long the small groups talk with the broadcast, and without it, after an unmeasured warm-up. */
const mix = { seconds: quick ? 8 : 20, warmupSeconds: 3 }
const body = 'x'.repeat(100)

/** Posts by whom, at the gateway: the fan-out worker's, and the message function's own first slices. */
const workerCaller = fanOutWorker.handler
const functionCaller = 'message'

interface Flight {
  gid: string
  expected: Set<string>
  seen: Set<string>
  sentAt: number
  done: (latencyMs: number) => void
}

/**
 * Every message in flight, by its jti: who must receive it, who did, and when the last one did. A copy to
 * someone not expected, or a second copy (even after the message was done), is a problem.
 */
class Deliveries {
  private readonly flights = new Map<string, Flight>()
  readonly problems: string[] = []

  constructor(clients: BenchClient[]) {
    for (const client of clients) client.onEvent = (frame) => this.arrived(client.iss, frame)
  }

  /** Sends a message as `sender`; resolves with the milliseconds from its send to its last recipient. */
  async send(sender: BenchClient, gid: string, recipients: string[], timeoutMs: number): Promise<number> {
    const jti = `p-${randomBytes(6).toString('hex')}`
    let sentAt = 0
    const delivered = new Promise<number>((done) => {
      this.flights.set(jti, { gid, expected: new Set(recipients), seen: new Set(), sentAt: 0, done })
    })
    const ack = sender.request('message', { gid, body, jti }, () => {
      sentAt = performance.now()
      const flight = this.flights.get(jti)
      if (flight) flight.sentAt = sentAt
    })
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const seen = this.flights.get(jti)?.seen.size ?? 0
        const problem = `${gid} ${jti}: ${seen} of ${recipients.length} delivered after ${timeoutMs} ms`
        reject(Object.assign(new Error(problem), { missing: recipients.length - seen }))
      }, timeoutMs)
    })
    try {
      const [reply, latency] = await Promise.race([Promise.all([ack, delivered]), expired])
      if (reply.type !== 'ack') this.problems.push(`${gid} ${jti}: ${JSON.stringify(reply)}`)
      return latency
    } finally {
      clearTimeout(timer)
    }
  }

  private arrived(iss: string, frame: PushedFrame): void {
    if (frame.type !== 'chat.message' || typeof frame.jti !== 'string') return
    const flight = this.flights.get(frame.jti)
    if (flight === undefined) return
    if (!flight.expected.has(iss) || flight.seen.has(iss)) {
      this.problems.push(`${flight.gid} ${frame.jti} reached ${iss} ${flight.seen.has(iss) ? 'twice' : ''}`)
      return
    }
    flight.seen.add(iss)
    if (flight.seen.size === flight.expected.size) flight.done(performance.now() - flight.sentAt)
  }
}

interface Group {
  gid: string
  clients: BenchClient[]
}

/** A broadcast's figures: its messages alone through the gateway, with the local stack's AWS limits on. */
interface BroadcastResult {
  members: number
  messages: number
  /** Every other member got every message exactly once, and no one else got any. */
  exactlyOnce: boolean
  endToEndMs: { p50: number; max: number }
  /** The workers' budget (FANOUT_POSTS_PER_SECOND) and the local account's rate. */
  budgetPerSecond: number
  accountPerSecond: number
  /** Posts the gateway saw from the workers: how many, and the most in any one second. */
  workerPosts: number
  workerPeakPerSecond: number
  /** The workers' posts over the time they took, per second. */
  workerMeanPerSecond: number
  /** The message function's own first slices (a lane of their own, unpaced). */
  functionPosts: number
  /** Management API calls answered 429 during the broadcast, and posts given up as failed (none: every
   * member got every message). */
  throttled: number
  failedPosts: number
}

/** Small groups' send-to-delivery times, talking alone and during back-to-back broadcasts. */
interface MixResult {
  groups: number
  members: number
  seconds: number
  alone: { messages: number; p50: number; p99: number }
  withBroadcast: { messages: number; p50: number; p99: number; broadcasts: number }
  /** p99 with the broadcast over p99 without (goal ≤ 2). */
  p99Ratio: number
  workerPeakPerSecond: number
}

interface PacingResults {
  ranAt: string
  machine: Machine
  broadcast: BroadcastResult
  mix: MixResult
  aws: { behaviours: AwsBehaviours; counters: AwsBehaviourCounters }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function postsBy(url: string, caller: string, since: number): Promise<PostRate> {
  const response = await fetch(`${url}/dev/posts?caller=${caller}&since=${since}`)
  return (await response.json()) as PostRate
}

async function awsState(url: string): Promise<PacingResults['aws']> {
  return (await (await fetch(`${url}/dev/aws-behaviours`)).json()) as PacingResults['aws']
}

async function main(): Promise<void> {
  const machine = await announceMachine()
  const runId = randomBytes(3).toString('hex')
  const started = Date.now()
  console.log('starting the local stack in a process of its own, with its AWS limits on…')
  const stack = await startStackProcess({ port: 0, fanOutSliceSize: broadcast.sliceSize })
  let clients: BenchClient[] = []
  try {
    const name = (kind: string, i: number) => `pace-${runId}-${kind}${String(i).padStart(5, '0')}`
    const bigIds = Array.from({ length: broadcast.members }, (_, i) => name('b', i))
    const smallIds = Array.from({ length: small.groups * small.members }, (_, i) => name('s', i))
    clients = await connectAll(stack.url, [...bigIds, ...smallIds])
    const store = dynamoStores(new DynamoTable(emulatorDynamoClient(stack.dynamoEndpoint), localNames.table))
    const big: Group = { gid: `pace-${runId}-big`, clients: clients.slice(0, broadcast.members) }
    console.log(`writing a group of ${broadcast.members} and ${small.groups} groups of ${small.members}…`)
    await createJoinedGroup(store, big.gid, bigIds)
    const smalls: Group[] = []
    for (let g = 0; g < small.groups; g++) {
      const members = clients.slice(
        broadcast.members + g * small.members,
        broadcast.members + (g + 1) * small.members,
      )
      const gid = `pace-${runId}-s${g}`
      await createJoinedGroup(
        store,
        gid,
        members.map((c) => c.iss),
      )
      smalls.push({ gid, clients: members })
    }
    const deliveries = new Deliveries(clients)

    const broadcastResult = await measureBroadcast(stack.url, big, deliveries)
    const mixResult = await measureMix(stack.url, big, smalls, deliveries)
    // A late second copy would arrive about now.
    await sleep(2000)
    const results: PacingResults = {
      ranAt: new Date().toISOString(),
      machine,
      broadcast: { ...broadcastResult, exactlyOnce: deliveries.problems.length === 0 },
      mix: mixResult,
      aws: await awsState(stack.url),
    }
    report(results)
    if (deliveries.problems.length > 0) {
      console.error(
        `\n${deliveries.problems.length} problem(s):\n${deliveries.problems.slice(0, 20).join('\n')}`,
      )
      process.exitCode = 1
    } else if (!quick) await saveResults('pacing', results)
    console.log(`whole run: ${round((Date.now() - started) / 1000, 1)} s`)
  } finally {
    await stack.stop()
  }
}

/** The broadcast's messages one after another, each to every other member, and the posts the gateway saw. */
async function measureBroadcast(url: string, big: Group, deliveries: Deliveries): Promise<BroadcastResult> {
  const [sender, ...others] = big.clients
  if (sender === undefined) throw new Error('empty group')
  const recipients = others.map((c) => c.iss)
  console.log(
    `a group of ${broadcast.members}: one message to start the workers, then ${broadcast.messages}…`,
  )
  await deliveries.send(sender, big.gid, recipients, 120_000)
  await sleep(1000)
  const before = await awsState(url)
  const since = Date.now()
  const latencies: number[] = []
  // A post given up (a failed one) leaves its recipient without the message: counted when time runs out.
  let failedPosts = 0
  for (let i = 0; i < broadcast.messages; i++) {
    try {
      latencies.push(await deliveries.send(sender, big.gid, recipients, 120_000))
    } catch (error) {
      deliveries.problems.push(String(error))
      failedPosts += (error as { missing?: number }).missing ?? recipients.length
    }
  }
  const busySeconds = (Date.now() - since) / 1000
  const after = await awsState(url)
  const workers = await postsBy(url, workerCaller, since)
  const own = await postsBy(url, functionCaller, since)
  return {
    members: broadcast.members,
    messages: broadcast.messages,
    exactlyOnce: deliveries.problems.length === 0,
    endToEndMs: { p50: round(quantile(latencies, 0.5)), max: round(Math.max(...latencies)) },
    budgetPerSecond: localFanOutPostsPerSecond,
    accountPerSecond: after.behaviours.callbackRatePerSecond,
    workerPosts: workers.posts,
    workerPeakPerSecond: workers.peak,
    workerMeanPerSecond: round(workers.posts / busySeconds, 0),
    functionPosts: own.posts,
    throttled: after.counters.callbackThrottles - before.counters.callbackThrottles,
    failedPosts,
  }
}

/**
 * The small groups talk for `mix.seconds` alone, then as long again while the broadcast's sender sends one
 * message after another; each small message is timed from its send to its last recipient.
 */
async function measureMix(
  url: string,
  big: Group,
  smalls: Group[],
  deliveries: Deliveries,
): Promise<MixResult> {
  const talk = async (seconds: number): Promise<number[]> => {
    const latencies: number[] = []
    const until = performance.now() + seconds * 1000
    await Promise.all(
      smalls.map(async ({ gid, clients }, g) => {
        await sleep(Math.random() * small.everyMs)
        for (let turn = g; performance.now() < until; turn++) {
          const sender = clients[turn % clients.length] as BenchClient
          const recipients = clients.filter((c) => c !== sender).map((c) => c.iss)
          const next = sleep(small.everyMs * (0.5 + Math.random()))
          latencies.push(await deliveries.send(sender, gid, recipients, 60_000))
          await next
        }
      }),
    )
    return latencies
  }
  console.log(`${small.groups} groups of ${small.members} talking: a warm-up, then ${mix.seconds} s alone…`)
  await talk(mix.warmupSeconds)
  const alone = await talk(mix.seconds)

  console.log(
    `…and ${mix.seconds} s while the group of ${broadcast.members} is sent one message after another…`,
  )
  const [sender, ...others] = big.clients
  if (sender === undefined) throw new Error('empty group')
  const since = Date.now()
  let talking = true
  let broadcasts = 0
  const broadcaster = (async () => {
    while (talking) {
      await deliveries.send(
        sender,
        big.gid,
        others.map((c) => c.iss),
        120_000,
      )
      broadcasts++
    }
  })()
  const during = await talk(mix.seconds)
  talking = false
  await broadcaster
  const workers = await postsBy(url, workerCaller, since)
  const figures = (latencies: number[]) => ({
    messages: latencies.length,
    p50: round(quantile(latencies, 0.5)),
    p99: round(quantile(latencies, 0.99)),
  })
  const a = figures(alone)
  const w = figures(during)
  return {
    groups: small.groups,
    members: small.members,
    seconds: mix.seconds,
    alone: a,
    withBroadcast: { ...w, broadcasts },
    p99Ratio: round(w.p99 / a.p99),
    workerPeakPerSecond: workers.peak,
  }
}

function report(r: PacingResults): void {
  const b = r.broadcast
  const m = r.mix
  console.log(
    `\na group of ${b.members}: ${b.messages} messages through the gateway, each to ${b.members - 1} ` +
      `connections (the message function's first ${broadcast.sliceSize}, workers the rest)\n`,
  )
  printTable(
    ['figure', 'measured'],
    [
      ['delivered', b.exactlyOnce ? 'exactly once to every connection' : 'NOT exactly once'],
      ['end to end p50 / max, ms', `${b.endToEndMs.p50} / ${b.endToEndMs.max}`],
      ["workers' budget / local account rate, posts/s", `${b.budgetPerSecond} / ${b.accountPerSecond}`],
      ["workers' posts at the gateway", b.workerPosts],
      ["workers' posts/s at the gateway: most in any second", b.workerPeakPerSecond],
      ["workers' posts/s at the gateway: mean", b.workerMeanPerSecond],
      ["message function's own posts (unpaced lane)", b.functionPosts],
      ['calls answered 429', b.throttled],
      ['posts failed', b.failedPosts],
    ],
  )
  console.log(
    `\n${m.groups} groups of ${m.members}, each saying something about every ${small.everyMs / 1000} s, ` +
      `${m.seconds} s alone and ${m.seconds} s during ${m.withBroadcast.broadcasts} broadcasts to ${b.members}\n`,
  )
  printTable(
    ['', 'messages', 'send → last delivery p50 ms', 'p99 ms'],
    [
      ['alone', m.alone.messages, m.alone.p50, m.alone.p99],
      ['with the broadcast', m.withBroadcast.messages, m.withBroadcast.p50, m.withBroadcast.p99],
    ],
  )
  console.log(`\nworkers' posts/s at the gateway during the mix: most in any second ${m.workerPeakPerSecond}`)
  const rows: [string, number | string, string, boolean][] = [
    [
      "workers' posts in any second at the gateway",
      Math.max(b.workerPeakPerSecond, m.workerPeakPerSecond),
      `≤ ${b.budgetPerSecond}`,
      Math.max(b.workerPeakPerSecond, m.workerPeakPerSecond) <= b.budgetPerSecond,
    ],
    ['posts failed for throttling', b.failedPosts, '0', b.failedPosts === 0 && b.exactlyOnce],
    ["small groups' p99 with the broadcast / without", m.p99Ratio, '≤ 2', m.p99Ratio <= 2],
  ]
  console.log('\ngoals\n')
  printTable(
    ['figure', 'measured', 'goal', 'met'],
    rows.map(([figure, measured, goal, met]) => [figure, measured, goal, met ? 'yes' : 'no']),
  )
  const { machine } = r
  console.log(
    `\n${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.os}; ` +
      `${round(machine.cpuBusyAtStart * 100, 0)} % busy before the run`,
  )
}

await main()
