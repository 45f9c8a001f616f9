import { randomBytes } from 'node:crypto'
import { dynamoStores } from '../lambdas/adapters/dynamo/stores.js'
import { DynamoTable } from '../lambdas/adapters/dynamo/table.js'
import { emulatorDynamoClient } from '../local/emulators.js'
import { localNames } from '../local/stack.js'
import { connectAll, createJoinedGroup, unlimited } from './fanout.js'
import { saveResults } from './results-file.js'
import { startStackProcess } from './stack-process.js'
import { announceMachine, printTable, quantile, round } from './stats.js'
import type { BenchClient } from './ws-client.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const quick = process.argv.includes('--quick')
/** Group sizes whose sustained message rate is measured. */
const sizes = quick ? [10, 100] : [10, 100, 1000]
/** Senders, each sending its next message when its last is answered. */
const senders = 20
/** How long each group is kept busy. */
const windowMs = quick ? 3000 : 15_000
const body = 'x'.repeat(100)

/** One group kept busy by `senders` senders through the gateway, with the local stack's AWS behaviours on. */
interface SustainedResult {
  members: number
  senders: number
  seconds: number
  /** Messages answered with an ack, a second. */
  messagesPerSecond: number
  /** Deliveries a second (each message to every other member's connection). */
  deliveriesPerSecond: number
  /** CONFLICT answers (the group too busy for a write's retries), each sent again by its sender. */
  conflicts: number
  /** Milliseconds from sending to the ack, and to the last member's copy. */
  ackMs: { p50: number; p99: number }
  lastDeliveryMs: { p50: number; p99: number }
  /** Copies missing or extra once every message was answered and every client settled. */
  missing: number
  extra: number
}

async function main(): Promise<void> {
  const machine = await announceMachine()
  console.log('starting the local stack (AWS behaviours on) in a process of its own…')
  // The senders' own rate limits stay out of the way: the group's capacity is what is measured.
  const stack = await startStackProcess({ port: 0, rateLimits: unlimited })
  const runId = randomBytes(3).toString('hex')
  const largest = Math.max(...sizes)
  let clients: BenchClient[] = []
  try {
    clients = await connectAll(
      stack.url,
      Array.from({ length: largest }, (_, i) => `cap-${runId}-${String(i).padStart(5, '0')}`),
    )
    const store = dynamoStores(new DynamoTable(emulatorDynamoClient(stack.dynamoEndpoint), localNames.table))
    const results: SustainedResult[] = []
    for (const members of sizes) {
      console.log(`group of ${members}: ${senders} senders for ${windowMs / 1000} s…`)
      const group = clients.slice(0, members)
      const gid = `cap-${runId}-g${members}`
      await createJoinedGroup(
        store,
        gid,
        group.map((c) => c.iss),
      )
      results.push(await sustain(gid, group))
    }
    report(results)
    if (!quick && results.every((r) => r.missing === 0 && r.extra === 0)) {
      await saveResults('capacity', { ranAt: new Date().toISOString(), machine, sustained: results })
    }
    const lost = results.filter((r) => r.missing > 0 || r.extra > 0)
    if (lost.length > 0) {
      console.error(`copies missing or extra in groups of ${lost.map((r) => r.members).join(', ')}`)
      process.exitCode = 1
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
    await stack.stop()
  }
}

/**
 * `senders` loops, spread over the group's members, each sending a message and its next one when the last
 * is answered (a CONFLICT is sent again with the same jti), for `windowMs`; every client counts the copies
 * it gets of each message.
 */
async function sustain(gid: string, group: BenchClient[]): Promise<SustainedResult> {
  const sentAt = new Map<string, number>()
  const senderOf = new Map<string, BenchClient>()
  const copies = new Map<string, number>()
  const lastAt = new Map<string, number>()
  let extra = 0
  for (const client of group) {
    client.onEvent = (frame) => {
      if (frame.type !== 'chat.message' || frame.gid !== gid || typeof frame.jti !== 'string') return
      if (senderOf.get(frame.jti) === client) extra++
      copies.set(frame.jti, (copies.get(frame.jti) ?? 0) + 1)
      lastAt.set(frame.jti, performance.now())
    }
  }
  const acked: string[] = []
  const ackMs: number[] = []
  let conflicts = 0
  const startedAt = performance.now()
  const loop = async (n: number) => {
    const sender = group[n % group.length] as BenchClient
    while (performance.now() - startedAt < windowMs) {
      const jti = `c${n}-${randomBytes(5).toString('hex')}`
      senderOf.set(jti, sender)
      const at = performance.now()
      sentAt.set(jti, at)
      for (;;) {
        const reply = await sender.request('message', { gid, body, jti })
        if (reply.type === 'ack') break
        if (reply.code !== 'CONFLICT') throw new Error(`${gid}: ${JSON.stringify(reply)}`)
        conflicts++
      }
      acked.push(jti)
      ackMs.push(performance.now() - at)
    }
  }
  await Promise.all(Array.from({ length: senders }, (_, n) => loop(n)))
  const seconds = (performance.now() - startedAt) / 1000
  await Promise.all(group.map((client) => client.settle()))
  for (const client of group) client.onEvent = () => {}

  // Each message reaches every member's connection but its sender's.
  const expected = group.length - 1
  let missing = 0
  for (const jti of acked) {
    const got = copies.get(jti) ?? 0
    if (got < expected) missing += expected - got
    if (got > expected) extra += got - expected
  }
  const deliveryMs = acked.map((jti) => (lastAt.get(jti) ?? 0) - (sentAt.get(jti) ?? 0))
  return {
    members: group.length,
    senders,
    seconds: round(seconds, 1),
    messagesPerSecond: round(acked.length / seconds, 1),
    deliveriesPerSecond: round((acked.length * expected) / seconds, 0),
    conflicts,
    ackMs: { p50: round(quantile(ackMs, 0.5)), p99: round(quantile(ackMs, 0.99)) },
    lastDeliveryMs: { p50: round(quantile(deliveryMs, 0.5)), p99: round(quantile(deliveryMs, 0.99)) },
    missing,
    extra,
  }
}

function report(results: SustainedResult[]): void {
  console.log(`\none group kept busy by ${senders} senders through the gateway (AWS behaviours on)\n`)
  printTable(
    [
      'members',
      'messages/s',
      'deliveries/s',
      'CONFLICT (sent again)',
      'ack p50/p99 ms',
      'last copy p50/p99 ms',
      'missing',
      'extra',
    ],
    results.map((r) => [
      r.members,
      r.messagesPerSecond,
      r.deliveriesPerSecond,
      r.conflicts,
      `${r.ackMs.p50} / ${r.ackMs.p99}`,
      `${r.lastDeliveryMs.p50} / ${r.lastDeliveryMs.p99}`,
      r.missing,
      r.extra,
    ]),
  )
}

await main()
