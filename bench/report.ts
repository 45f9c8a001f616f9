import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type AwsBehaviourCounters,
  type AwsBehaviours,
  describeBehaviours,
  describeCounters,
} from '../local/aws-behaviours.js'

// Run: npx tsx bench/report.ts (npm run bench runs it last)
// Writes docs/benchmark-results.md from bench/results.json, so that no figure is copied by hand.

export const resultsFile = fileURLToPath(new URL('results.json', import.meta.url))
export const reportFile = fileURLToPath(new URL('../docs/benchmark-results.md', import.meta.url))

// The shapes the benchmarks write, every part optional: a section whose benchmark has not run says so.
type P = { p50?: number; p99?: number; max?: number }
type Num = number | undefined
interface Machine {
  cpu?: string
  cores?: number
  memoryGiB?: number
  node?: string
  os?: string
  cpuBusyAtStart?: number
}
interface Dynamo {
  callsPerMessage?: Record<string, number>
  callsPerRun?: Record<string, number>
  millisPerCall?: Record<string, number>
  requestsPerMessage?: number
  requestsPerRun?: number
  readUnitsPerMessage?: number
  readUnitsPerRun?: number
  writeUnitsPerMessage?: number
  itemsWrittenPerMessage?: number
}
interface FanOut {
  members?: number
  dynamo?: Dynamo
  roundTripsBeforeFirstPost?: P
  postsPerMessage?: number
  postsPerConnection?: { min?: number; max?: number }
  handlerMs?: P
  floorMs?: P
  handlerOverFloor?: number
  endToEndMs?: P
  deliveriesPerSecond?: number
  rateLimiter?: {
    writeUnitsWith?: number
    writeUnitsWithout?: number
    handlerMsWithout?: P
    handlerWithOverWithout?: number
    roundTripsWithout?: number
  }
}
interface Read {
  members?: number
  logEvents?: number
  eventsReturned?: number
  groupsSynced?: number
  dynamo?: Dynamo
  ms?: P
}
interface Bundle {
  bytes?: number
  gzipBytes?: number
  initMs?: number
  /** Why the handler could not be measured, when it could not. */
  error?: string
}
interface EncryptedGroup {
  members?: number
  perMessage?: {
    encryptMs?: P
    decryptMs?: P
    saveMs?: P
    stateBytes?: number
    cipherBytes?: number
    cipherChars?: number
    frameBytes?: { plain?: number; encrypted?: number; ratio?: number }
    eventBytes?: { plain?: number; encrypted?: number; ratio?: number }
  }
  build?: { addAllMs?: number; commitBytes?: number; welcomeBytes?: number; infoBytes?: number }
  addMember?: {
    leavesBefore?: number
    leavesAfter?: number
    stackMs?: Record<string, number>
    engineMs?: Record<string, number>
    bytes?: Record<string, number>
    uploaded?: string[]
  }
}
interface MlsVerify {
  ranAt?: string
  machine?: Machine
  commits?: {
    members?: number
    commit?: string
    bytes?: number
    groupInfoMs?: number
    commitMs?: number
    totalMs?: number
  }[]
  memberChecks?: { members?: number; ms?: number }[]
}
/** bench/purge.ts: deleting a large group through deleteGroup and the purge worker, AWS's limits on. */
interface Purge {
  ranAt?: string
  machine?: Machine
  members?: number
  messages?: number
  seeded?: { items?: number; objects?: number }
  answerMs?: number
  purgedMs?: number
  runs?: number
  pages?: number
  itemsDeleted?: number
  objectsDeleted?: number
  itemsLeft?: number
  objectsLeft?: number
  aws?: { behaviours?: string; counters?: string }
}
interface Load {
  ranAt?: string
  machine?: Machine
  connections?: number
  groups?: number
  sent?: number
  seconds?: number
  deliveriesPerSecond?: number
  cuts?: number
  expected?: number
  arrived?: number
  lost?: number
  duplicated?: number
  outOfOrder?: number
  misdelivered?: number
  errors?: number
  unanswered?: number
  internal?: number
  /** The AWS behaviours in force and what they injected (GET /dev/aws-behaviours). */
  aws?: { behaviours: AwsBehaviours; counters: AwsBehaviourCounters }
}
/** bench/pacing.ts: a broadcast's posts at the gateway, and small groups' latency beside broadcasts. */
interface Pacing {
  ranAt?: string
  machine?: Machine
  broadcast?: {
    members?: number
    messages?: number
    exactlyOnce?: boolean
    endToEndMs?: P
    budgetPerSecond?: number
    accountPerSecond?: number
    workerPosts?: number
    workerPeakPerSecond?: number
    workerMeanPerSecond?: number
    functionPosts?: number
    throttled?: number
    failedPosts?: number
  }
  mix?: {
    groups?: number
    members?: number
    seconds?: number
    alone?: { messages?: number; p50?: number; p99?: number }
    withBroadcast?: { messages?: number; p50?: number; p99?: number; broadcasts?: number }
    p99Ratio?: number
    workerPeakPerSecond?: number
  }
}
/** bench/cold-start.ts: one build's bundles (a list), or a comparison of two builds per handler. */
type Extreme = { handler?: string; value?: number }
type ColdStart =
  | (Bundle & { handler?: string })[]
  | {
      ranAt?: string
      machine?: Machine
      before?: { ref?: string; commit?: string }
      after?: { commit?: string; uncommitted?: boolean }
      targets?: { bundleKiB?: number; initMs?: number }
      handlers?: { handler?: string; before?: Bundle; after?: Bundle }[]
      summary?: {
        largestBundleKiB?: { before?: Extreme; after?: Extreme }
        slowestInitMs?: { before?: Extreme; after?: Extreme }
        unmeasured?: string[]
        pass?: boolean
      }
    }
export interface Results {
  ranAt?: string
  machine?: Machine
  fanOut?: FanOut[]
  largestGroup?: {
    members?: number
    messages?: number
    slices?: number
    exactlyOnce?: boolean
    endToEndMs?: P
    deliveriesPerSecond?: number
  }
  memory?: { members?: number; peakBytes?: Record<string, number> }[]
  /** bench/fanout.ts: a message's read units in a large group, in a fresh function instance and a warm one. */
  recipientReads?: {
    members?: number
    coldReadUnits?: number
    warmReadUnits?: number
    coldRequests?: number
    warmRequests?: number
  }[]
  /** bench/capacity.ts: one group kept busy by its senders through the gateway. */
  capacity?: { ranAt?: string; machine?: Machine; sustained?: Sustained[] }
  history?: Read[]
  catchUp?: Read[]
  postCpuMs?: number
  postCpuMsSdk?: number
  coldStart?: ColdStart
  encrypted?: { ranAt?: string; machine?: Machine; groups?: EncryptedGroup[] }
  mlsVerify?: MlsVerify
  purge?: Purge
  load?: Load
  pacing?: Pacing
}

interface Sustained {
  members?: number
  senders?: number
  seconds?: number
  messagesPerSecond?: number
  deliveriesPerSecond?: number
  conflicts?: number
  ackMs?: P
  lastDeliveryMs?: P
  missing?: number
  extra?: number
}

/** A figure as the tables print it: thousands separated, or n/a when the run did not record it. */
function n(value: Num, digits = 2): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a'
  return value.toLocaleString('en-US', { maximumFractionDigits: digits })
}
const pair = (p: P | undefined, second: 'p99' | 'max' = 'p99') => `${n(p?.p50)} / ${n(p?.[second])}`
const kib = (bytes: Num) => (bytes === undefined ? undefined : bytes / 1024)
const mib = (bytes: Num) => (bytes === undefined ? undefined : bytes / 2 ** 20)

function table(header: string[], rows: string[][], numeric: boolean[] = []): string {
  const align = header.map((_, i) => (numeric[i] ? '---:' : '---'))
  return [header, align, ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n')
}

function machineLine(machine: Machine | undefined, ranAt: string | undefined): string {
  if (!machine) return ranAt ? `Ran at ${ranAt}.` : ''
  const busy =
    machine.cpuBusyAtStart === undefined
      ? ''
      : `; ${n(machine.cpuBusyAtStart * 100, 0)} % busy before the run`
  return (
    `Ran ${ranAt ? `at ${ranAt} ` : ''}on ${machine.cpu ?? 'an unknown CPU'}, ${n(machine.cores)} cores, ` +
    `${n(machine.memoryGiB)} GiB, Node.js ${machine.node ?? 'n/a'}, ${machine.os ?? 'n/a'}${busy}.`
  )
}

const missing = (what: string, script: string) =>
  `No figures for ${what} in bench/results.json yet: ${script} has written none.`

/** DynamoDB operations in the order a message makes them, then any other. */
function operations(calls: (Record<string, number> | undefined)[]): string[] {
  const order = ['Query', 'UpdateItem', 'TransactWriteItems', 'BatchGetItem']
  const seen = new Set(calls.flatMap((c) => Object.keys(c ?? {})))
  return [...order.filter((op) => seen.has(op)), ...[...seen].filter((op) => !order.includes(op)).sort()]
}
const callCell = (d: Dynamo | undefined, op: string) => {
  const calls = d?.callsPerMessage?.[op] ?? d?.callsPerRun?.[op]
  return calls === undefined ? '' : `${n(calls)} × ${n(d?.millisPerCall?.[op], 1)} ms`
}

function fanOutSection(r: Results): string[] {
  const fanOut = r.fanOut ?? []
  if (fanOut.length === 0) return ['## Fan-out', '', missing('the fan-out', 'bench/fanout.ts')]
  const ops = operations(fanOut.map((f) => f.dynamo?.callsPerMessage))
  const out = [
    '## Fan-out',
    '',
    machineLine(r.machine, r.ranAt),
    '',
    'The message path, per message (calls × median ms per call):',
    '',
    table(
      ['members', ...ops, 'requests', 'in sequence before 1st post', 'RCU', "WCU (Local's)", 'items written'],
      fanOut.map((f) => [
        n(f.members),
        ...ops.map((op) => callCell(f.dynamo, op)),
        n(f.dynamo?.requestsPerMessage),
        n(f.roundTripsBeforeFirstPost?.max),
        n(f.dynamo?.readUnitsPerMessage),
        n(f.dynamo?.writeUnitsPerMessage),
        n(f.dynamo?.itemsWrittenPerMessage),
      ]),
      [true, ...ops.map(() => false), true, true, true, true, true],
    ),
    '',
    'Fan-out per message:',
    '',
  ]
  const rows = fanOut.map((f) => [
    n(f.members),
    n(f.postsPerMessage),
    f.postsPerConnection?.min === f.postsPerConnection?.max
      ? n(f.postsPerConnection?.max)
      : `${n(f.postsPerConnection?.min)}–${n(f.postsPerConnection?.max)}`,
    pair(f.handlerMs),
    pair(f.floorMs),
    n(f.handlerOverFloor),
    pair(f.endToEndMs),
    n(f.deliveriesPerSecond, 0),
  ])
  const l = r.largestGroup
  if (l) {
    const posts = l.members === undefined ? undefined : l.members - 1
    const slices = l.slices === undefined ? '' : ` (function + ${n(l.slices - 1)} workers)`
    rows.push([
      n(l.members),
      n(posts),
      l.exactlyOnce ? '1' : 'not exactly once',
      slices.trim(),
      '',
      '',
      `${pair(l.endToEndMs, 'max')} (max)`,
      n(l.deliveriesPerSecond, 0),
    ])
  }
  out.push(
    table(
      [
        'members',
        'posts',
        'posts/conn',
        'handler p50 / p99 ms',
        'floor p50 / p99 ms',
        'handler/floor',
        'e2e p50 / p99 ms',
        'deliveries/s',
      ],
      rows,
      [true, true, true, false, false, true, false, true],
    ),
  )
  const limited = fanOut.filter((f) => f.rateLimiter)
  if (limited.length > 0) {
    out.push(
      '',
      'The rate limiter, per message (the same handler over a store that takes no tokens, interleaved):',
      '',
      table(
        [
          'members',
          "WCU with / without (Local's)",
          'handler p50 / p99 ms with',
          'without',
          'with / without (p50)',
          'in sequence before 1st post, with / without',
        ],
        limited.map((f) => [
          n(f.members),
          `${n(f.rateLimiter?.writeUnitsWith)} / ${n(f.rateLimiter?.writeUnitsWithout)}`,
          pair(f.handlerMs),
          pair(f.rateLimiter?.handlerMsWithout),
          n(f.rateLimiter?.handlerWithOverWithout),
          `${n(f.roundTripsBeforeFirstPost?.max)} / ${n(f.rateLimiter?.roundTripsWithout)}`,
        ]),
        [true, false, false, false, true, false],
      ),
    )
  }
  const reads = r.recipientReads ?? []
  if (reads.length > 0) {
    out.push(
      '',
      "A message's reads in a large group (its posts dropped), in a function instance that holds none of the " +
        "group's recipient shards yet, and in one that read them before (mean of 10 messages):",
      '',
      table(
        ['members', 'RCU, cold', 'requests, cold', 'RCU, warm', 'requests, warm'],
        reads.map((x) => [
          n(x.members),
          n(x.coldReadUnits),
          n(x.coldRequests),
          n(x.warmReadUnits),
          n(x.warmRequests),
        ]),
        [true, true, true, true, true],
      ),
    )
  }
  return [...out, ...readsSection(r), ...postSection(r)]
}

function capacitySection(r: Results): string[] {
  const sustained = r.capacity?.sustained ?? []
  if (sustained.length === 0) return ['## One busy group', '', missing('one busy group', 'bench/capacity.ts')]
  const [first] = sustained
  return [
    '## One busy group',
    '',
    machineLine(r.capacity?.machine, r.capacity?.ranAt),
    '',
    `One group kept busy by ${n(first?.senders)} senders through the gateway for ${n(first?.seconds, 0)} s ` +
      'each, every sender sending its next message when its last is answered (a CONFLICT sent again), ' +
      "with the local stack's AWS behaviours on; every copy counted:",
    '',
    table(
      [
        'members',
        'messages/s',
        'deliveries/s',
        'CONFLICT (sent again)',
        'ack p50 / p99 ms',
        'last copy p50 / p99 ms',
        'missing / extra',
      ],
      sustained.map((x) => [
        n(x.members),
        n(x.messagesPerSecond),
        n(x.deliveriesPerSecond, 0),
        n(x.conflicts),
        pair(x.ackMs),
        pair(x.lastDeliveryMs),
        `${n(x.missing)} / ${n(x.extra)}`,
      ]),
      [true, true, true, true, false, false, false],
    ),
  ]
}

function readsSection(r: Results): string[] {
  const reads: [string, Read[] | undefined][] = [
    ['a `history` page', r.history],
    ['catching up (`sync`, then `history`)', r.catchUp],
  ]
  const rows = reads.flatMap(([what, runs]) =>
    (runs ?? []).map((run) => {
      const d = run.dynamo
      const calls = operations([d?.callsPerRun])
        .map((op) => `${n(d?.callsPerRun?.[op])} ${op}`)
        .join(', ')
      return [
        what,
        n(run.members),
        n(run.logEvents),
        n(run.eventsReturned),
        calls,
        n(d?.requestsPerRun),
        n(d?.readUnitsPerRun),
        pair(run.ms),
      ]
    }),
  )
  if (rows.length === 0) return []
  return [
    '',
    'Reading the log:',
    '',
    table(
      ['read', 'members', 'log events', 'events returned', 'calls', 'requests', 'RCU', 'p50 / p99 ms'],
      rows,
      [false, true, true, true, false, true, true, false],
    ),
  ]
}

function pacingSection(r: Results): string[] {
  const p = r.pacing
  if (!p?.broadcast || !p.mix) return ['## Pacing', '', missing('pacing', 'bench/pacing.ts')]
  const b = p.broadcast
  const m = p.mix
  const peak = Math.max(b.workerPeakPerSecond ?? 0, m.workerPeakPerSecond ?? 0)
  return [
    '## Pacing',
    '',
    machineLine(p.machine, p.ranAt),
    '',
    `A group of ${n(b.members)}: ${n(b.messages)} messages through the gateway with the local stack's AWS limits ` +
      `on (the account's ${n(b.accountPerSecond)} calls a second), the message function posting the first slice ` +
      `and the workers the rest within their budget of ${n(b.budgetPerSecond)} a second:`,
    '',
    table(
      ['figure', 'measured'],
      [
        ['delivered', b.exactlyOnce ? 'exactly once to every connection' : 'not exactly once'],
        ['end to end p50 / max, ms', pair(b.endToEndMs, 'max')],
        ["workers' posts at the gateway", n(b.workerPosts)],
        [
          "workers' posts in any one second / mean per second",
          `${n(b.workerPeakPerSecond)} / ${n(b.workerMeanPerSecond)}`,
        ],
        ["the message function's own posts (unpaced)", n(b.functionPosts)],
        ['calls answered 429', n(b.throttled)],
        ['posts failed', n(b.failedPosts)],
      ],
      [false, true],
    ),
    '',
    `${n(m.groups)} groups of ${n(m.members)} talking, ${n(m.seconds)} s alone and ${n(m.seconds)} s during ` +
      `${n(m.withBroadcast?.broadcasts)} broadcasts to the group of ${n(b.members)}, each message timed from its ` +
      'send to its last recipient:',
    '',
    table(
      ['', 'messages', 'p50 ms', 'p99 ms'],
      [
        ['alone', n(m.alone?.messages), n(m.alone?.p50), n(m.alone?.p99)],
        [
          'with the broadcast',
          n(m.withBroadcast?.messages),
          n(m.withBroadcast?.p50),
          n(m.withBroadcast?.p99),
        ],
      ],
      [false, true, true, true],
    ),
    '',
    `Goals: the workers' posts in any second ≤ their budget (${n(peak)} of ${n(b.budgetPerSecond)}), none failed ` +
      `for throttling (${n(b.failedPosts)}), and small groups' p99 with the broadcast ≤ 2× without (${n(m.p99Ratio)}×).`,
  ]
}

function postSection(r: Results): string[] {
  const out: string[] = []
  if (r.postCpuMs !== undefined) {
    const sdk = r.postCpuMsSdk
    const ratio = sdk ? ` (${n(r.postCpuMs / sdk)}×)` : ''
    out.push(
      '',
      `CPU per post in the sending process: ${n(r.postCpuMs, 3)} ms with the functions' sender, ` +
        `${n(sdk, 3)} ms with the SDK client in the same run${ratio}.`,
    )
  }
  const memory = r.memory ?? []
  if (memory.length > 0) {
    const names = [...new Set(memory.flatMap((m) => Object.keys(m.peakBytes ?? {})))].sort()
    out.push(
      '',
      "Peak memory per function, MiB (V8 heap and buffers of its one local instance; Lambda's Max Memory Used adds the runtime, about 70 MB):",
      '',
      table(
        ['function', ...memory.map((m) => `${n(m.members)} members`)],
        names.map((name) => [name, ...memory.map((m) => n(mib(m.peakBytes?.[name]), 1))]),
        [false, ...memory.map(() => true)],
      ),
    )
  }
  return out
}

function loadSection(r: Results): string[] {
  const l = r.load
  if (!l)
    return ['## Load', '', missing('the load run', 'bench/load.ts (npm run load), which prints its figures,')]
  return [
    '## Load',
    '',
    machineLine(l.machine, l.ranAt),
    '',
    table(
      [
        'clients',
        'groups',
        'messages',
        'seconds',
        'deliveries/s',
        'sockets cut',
        'owed',
        'handed',
        'lost',
        'duplicated',
        'out of order',
        'misdelivered',
        'errors',
        'unanswered',
        'INTERNAL',
      ],
      [
        [
          l.connections,
          l.groups,
          l.sent,
          l.seconds,
          l.deliveriesPerSecond,
          l.cuts,
          l.expected,
          l.arrived,
          l.lost,
          l.duplicated,
          l.outOfOrder,
          l.misdelivered,
          l.errors,
          l.unanswered,
          l.internal,
        ].map((v) => n(v, 0)),
      ],
      Array(15).fill(true),
    ),
    ...(l.aws
      ? [
          '',
          `AWS behaviours: ${describeBehaviours(l.aws.behaviours)}.`,
          '',
          `What they injected: ${describeCounters(l.aws.counters)}.`,
        ]
      : []),
  ]
}

function encryptedSection(r: Results): string[] {
  const groups = r.encrypted?.groups ?? []
  if (groups.length === 0)
    return ['## Encrypted groups', '', missing('encrypted groups', 'bench/encrypted.ts')]
  const sizes = (b: { plain?: number; encrypted?: number; ratio?: number } | undefined) =>
    `${n(b?.plain)} → ${n(b?.encrypted)} B (${n(b?.ratio)}×)`
  const out = [
    '## Encrypted groups',
    '',
    machineLine(r.encrypted?.machine, r.encrypted?.ranAt),
    '',
    'Per message, a 100-byte body:',
    '',
    table(
      [
        'members',
        'encrypt p50 / p99 ms',
        'decrypt p50 / p99 ms',
        'save p50 / p99 ms (state)',
        'cipher',
        '`message` frame, plain → encrypted',
        '`chat.message` event, plain → encrypted',
      ],
      groups.map((g) => {
        const m = g.perMessage
        return [
          n(g.members),
          pair(m?.encryptMs),
          pair(m?.decryptMs),
          `${pair(m?.saveMs)} (${n(kib(m?.stateBytes), 1)} KiB)`,
          `${n(m?.cipherBytes)} B, ${n(m?.cipherChars)} base64 chars`,
          sizes(m?.frameBytes),
          sizes(m?.eventBytes),
        ]
      }),
      [true, false, false, false, false, false, false],
    ),
    '',
  ]
  const leaves = groups
    .map((g) => `${n(g.addMember?.leavesBefore)}–${n(g.addMember?.leavesAfter)}`)
    .join(' and ')
  const step = (g: EncryptedGroup, where: 'stackMs' | 'engineMs', key: string) =>
    n(g.addMember?.[where]?.[key], 1)
  const uploaded = (g: EncryptedGroup) => g.addMember?.uploaded ?? []
  const rows: [string, string, (g: EncryptedGroup) => string][] = [
    ['adder: claim the key package', 'stack', (g) => step(g, 'stackMs', 'claim')],
    ['adder: make the commit', 'engine', (g) => step(g, 'engineMs', 'commit')],
    [
      'adder: upload the parts over the inline limit',
      'stack',
      (g) =>
        uploaded(g).length === 0 ? 'none' : `${step(g, 'stackMs', 'upload')} (${uploaded(g).join(', ')})`,
    ],
    ['adder: send `commit` until the ack', 'stack', (g) => step(g, 'stackMs', 'commitAck')],
    [
      "joiner: `chat.commit` arrives, from the commit's send",
      'stack',
      (g) => step(g, 'stackMs', 'delivered'),
    ],
    [
      'joiner: fetch the Welcome',
      'stack',
      (g) => (uploaded(g).includes('welcome') ? step(g, 'stackMs', 'welcomeFetch') : 'inline'),
    ],
    ['joiner: join from the Welcome', 'engine', (g) => step(g, 'engineMs', 'join')],
    ['joiner: check the keys against `roster`', 'stack', (g) => step(g, 'stackMs', 'rosterCheck')],
    ['claim to joined', 'both', (g) => step(g, 'stackMs', 'endToEnd')],
    ['a member processes the commit', 'engine', (g) => step(g, 'engineMs', 'process')],
  ]
  out.push(
    `Adding a member who has joined (median ms; leaves ${leaves}):`,
    '',
    table(
      ['step', 'measured on', ...groups.map((g) => `${n(g.members)} members`)],
      rows.map(([what, on, cell]) => [what, on, ...groups.map(cell)]),
      [false, false, ...groups.map(() => true)],
    ),
    '',
    "The first add's parts, and the commit that gave the group its keys:",
    '',
    table(
      [
        'members',
        'commit B',
        'Welcome B',
        'group info B',
        'uploaded',
        'adding everyone: ms to make',
        'first commit B',
        'its Welcome B',
      ],
      groups.map((g) => [
        n(g.members),
        n(g.addMember?.bytes?.commit),
        n(g.addMember?.bytes?.welcome),
        n(g.addMember?.bytes?.info),
        uploaded(g).join(', ') || 'none',
        n(g.build?.addAllMs, 1),
        n(g.build?.commitBytes),
        n(g.build?.welcomeBytes),
      ]),
      [true, true, true, true, false, true, true, true],
    ),
  )
  return out
}

function trustChecksSection(r: Results): string[] {
  const v = r.mlsVerify
  if (!v?.commits?.length) return ['## Trust checks', '', missing('the trust checks', 'bench/mls-verify.ts')]
  const member = new Map((v.memberChecks ?? []).map((c) => [c.members, c.ms]))
  return [
    '## Trust checks',
    '',
    machineLine(v.machine, v.ranAt),
    '',
    'The server verifying a commit and the GroupInfo after it, and a member checking the tree a commit made (p50, ms):',
    '',
    table(
      [
        'members',
        'commit',
        'bytes (commit + info)',
        'GroupInfo',
        'commit',
        'total',
        "a member's tree checks",
      ],
      v.commits.map((c, i) => {
        const first = v.commits?.findIndex((o) => o.members === c.members) === i
        return [
          n(c.members),
          c.commit ?? '',
          n(c.bytes),
          n(c.groupInfoMs, 1),
          n(c.commitMs, 1),
          n(c.totalMs, 1),
          first ? n(member.get(c.members)) : '',
        ]
      }),
      [true, false, true, true, true, true, true],
    ),
  ]
}

function purgeSection(r: Results): string[] {
  const p = r.purge
  if (p?.purgedMs === undefined)
    return ['## Deleting a group', '', missing('deleting a group', 'bench/purge.ts')]
  return [
    '## Deleting a group',
    '',
    machineLine(p.machine, p.ranAt),
    '',
    `A group of ${n(p.members)} members and ${n(p.messages)} messages, each with a file, seeded straight into ` +
      'the emulators, deleted through the `deleteGroup` route and purged by the purge worker, with the local ' +
      "stack's AWS behaviours and limits on. Seconds from the request; what the worker's runs reported; what " +
      'was left of the group but its mark:',
    '',
    table(
      [
        'items before',
        'objects before',
        'answered (s)',
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
          n(p.seeded?.items),
          n(p.seeded?.objects),
          n(kSeconds(p.answerMs)),
          n(kSeconds(p.purgedMs), 1),
          n(p.runs),
          n(p.pages),
          n(p.itemsDeleted),
          n(p.objectsDeleted),
          n(p.itemsLeft),
          n(p.objectsLeft),
        ],
      ],
      Array(10).fill(true),
    ),
    '',
    `AWS behaviours: ${p.aws?.behaviours ?? 'n/a'}. What they injected: ${p.aws?.counters ?? 'n/a'}.`,
  ]
}
const kSeconds = (ms: Num) => (ms === undefined ? undefined : ms / 1000)

function coldStartSection(r: Results): string[] {
  const c = r.coldStart
  const head = ['## Cold starts', '']
  const cells = (b: Bundle | undefined) =>
    b?.error !== undefined
      ? [b.error, '', '']
      : [n(kib(b?.bytes), 1), n(kib(b?.gzipBytes), 1), n(b?.initMs, 1)]
  if (Array.isArray(c) && c.length > 0) {
    return [
      ...head,
      machineLine(r.machine, r.ranAt),
      '',
      'Each handler bundled as the CDK stack bundles it; init is the median of fresh processes importing it:',
      '',
      table(
        ['handler', 'bundle KiB', 'gzip KiB', 'init ms'],
        c.map((b) => [b.handler ?? '', ...cells(b)]),
        [false, true, true, true],
      ),
    ]
  }
  if (c && !Array.isArray(c) && c.handlers?.length) {
    const before = c.before?.ref ?? c.before?.commit ?? 'the baseline'
    const after = `${c.after?.commit ?? 'this build'}${c.after?.uncommitted ? ', with uncommitted changes' : ''}`
    const extreme = (e: Extreme | undefined, digits: number) =>
      e?.value === undefined ? 'n/a' : `${n(e.value, digits)} (${e.handler ?? '?'})`
    const summary = c.summary
    const verdict =
      summary?.pass === undefined
        ? []
        : [
            '',
            table(
              ['figure', 'before', 'after', 'target'],
              [
                [
                  'largest bundle, KiB',
                  extreme(summary.largestBundleKiB?.before, 1),
                  extreme(summary.largestBundleKiB?.after, 1),
                  `≤ ${n(c.targets?.bundleKiB)}`,
                ],
                [
                  'slowest module init, ms',
                  extreme(summary.slowestInitMs?.before, 1),
                  extreme(summary.slowestInitMs?.after, 1),
                  `≤ ${n(c.targets?.initMs)}`,
                ],
              ],
            ),
            '',
            `Targets met: ${summary.pass ? 'yes' : 'no'}` +
              (summary.unmeasured?.length ? ` (not measured: ${summary.unmeasured.join(', ')})` : '') +
              '.',
          ]
    return [
      ...head,
      machineLine(c.machine, c.ranAt),
      '',
      `Each handler bundled as the CDK stack bundles it, in the build before (${before}) and after ` +
        `(${after}); init is the median of fresh processes importing it:`,
      '',
      table(
        ['handler', 'before KiB', 'gzip KiB', 'init ms', 'after KiB', 'gzip KiB', 'init ms'],
        c.handlers.map((h) => [h.handler ?? '', ...cells(h.before), ...cells(h.after)]),
        [false, true, true, true, true, true, true],
      ),
      ...verdict,
    ]
  }
  return [...head, missing('cold starts', 'bench/cold-start.ts')]
}

/** The whole report, from results.json's contents. */
export function renderResults(results: Results): string {
  const sections = [
    fanOutSection(results),
    capacitySection(results),
    pacingSection(results),
    loadSection(results),
    encryptedSection(results),
    trustChecksSection(results),
    purgeSection(results),
    coldStartSection(results),
  ]
  return `${[
    '_Generated by `npm run bench` (bench/report.ts) from bench/results.json: do not edit by hand._',
    '',
    '# Benchmark results',
    '',
    'The figures the last `npm run bench` recorded in `bench/results.json`. What each measures, and what they',
    'say: [performance.md](performance.md). Timings on a shared two-core VM vary by about ±20 % between runs;',
    'counts are exact.',
    '',
    '- [Fan-out](#fan-out)',
    '- [One busy group](#one-busy-group)',
    '- [Pacing](#pacing)',
    '- [Load](#load)',
    '- [Encrypted groups](#encrypted-groups)',
    '- [Trust checks](#trust-checks)',
    '- [Deleting a group](#deleting-a-group)',
    '- [Cold starts](#cold-starts)',
    ...sections.flatMap((lines) => ['', ...lines.filter((line, i) => line !== '' || lines[i - 1] !== '')]),
  ].join('\n')}\n`
}

export async function readResults(): Promise<Results> {
  return JSON.parse(await readFile(resultsFile, 'utf8')) as Results
}

async function main(): Promise<void> {
  await writeFile(reportFile, renderResults(await readResults()))
  console.log(`wrote ${reportFile}`)
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) await main()
