import { randomBytes } from 'node:crypto'
import { BenchClient, mapLimited, type Reply } from './ws-client.js'

/** The shape of one load run; defaults are the `npm run load` sizes. */
export interface LoadOptions {
  /** The gateway's http(s) URL (WebSocket, management API and /dev/token). */
  httpUrl: string
  connections?: number
  groups?: number
  messages?: number
  /** Groups each identity is invited to, besides the one it may own. */
  groupsPerIdentity?: number
  /** Share of invitations accepted before the run starts; the rest join during it. */
  joinedAtStart?: number
  /** Chance per step that a client leaves a group, to be re-invited by the owner and join again later. */
  churn?: number
  seed?: number
  log?: (line: string) => void
}

/** What a load run saw; `ok` only when nothing was lost, duplicated, reordered or misdelivered. */
export interface LoadReport {
  ok: boolean
  connections: number
  groups: number
  sent: number
  /** Deliveries owed: (message, member) pairs where the member was certainly joined when it was sent. */
  expected: number
  arrived: number
  lost: number
  duplicated: number
  outOfOrder: number
  misdelivered: number
  /** Arrivals at members that joined or left while the message was in flight: either outcome is right. */
  uncertain: number
  /** Joins before the run started, then joins and leaves during it. */
  joinsBefore: number
  joins: number
  leaves: number
  /** Error replies the protocol does not allow here (CONFLICT and INTERNAL are retried, then count too). */
  errors: number
  retries: number
  seconds: number
  messagesPerSecond: number
  deliveriesPerSecond: number
  /** The first few violations, spelled out. */
  problems: string[]
}

/** One stretch of membership as the member's client saw it; times are performance.now(). */
interface Stretch {
  joinSentAt: number
  joinAckAt?: number
  leaveSentAt?: number
  leaveAckAt?: number
}

interface SentMessage {
  jti: string
  gid: string
  sender: string
  seq: number
  sentAt: number
  /** Infinity until acked; stays so when every attempt failed. */
  ackAt: number
}

interface Arrival {
  jti: string
  sender: string
  seq: number
}

const retryable = new Set(['CONFLICT', 'INTERNAL'])

/**
 * Hundreds of clients in tens of groups send messages while members join and leave, then every
 * delivery is checked against what each member's client knew when each message was sent.
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const connections = options.connections ?? 300
  const groupCount = options.groups ?? 20
  const budget = { left: options.messages ?? 3000 }
  const perIdentity = Math.min(options.groupsPerIdentity ?? 2, groupCount - 1)
  const joinedAtStart = options.joinedAtStart ?? 0.8
  const churn = options.churn ?? 0.02
  const random = seededRandom(options.seed ?? 1)
  const log = options.log ?? (() => {})
  if (connections < groupCount) throw new Error('need at least one connection per group (its owner)')

  const run = randomBytes(3).toString('hex')
  const identities = Array.from({ length: connections }, (_, i) => `load-${run}-u${i}`)
  const gids = Array.from({ length: groupCount }, (_, g) => `load-${run}-g${g}`)
  const stretches = new Map<string, Stretch[]>()
  const sent = new Map<string, SentMessage>()
  const arrivals = new Map<string, Arrival[]>()
  const problems: string[] = []
  const counts = { joins: 0, leaves: 0, errors: 0, retries: 0 }
  const key = (iss: string, gid: string) => `${iss} ${gid}`
  const stretchesOf = (iss: string, gid: string) => {
    const list = stretches.get(key(iss, gid)) ?? []
    stretches.set(key(iss, gid), list)
    return list
  }

  log(`connecting ${connections} clients…`)
  const clients = await mapLimited(identities, 16, (iss) => BenchClient.connect(options.httpUrl, iss))
  const byIss = new Map(clients.map((c) => [c.iss, c]))
  for (const client of clients) {
    const received: Arrival[] = []
    arrivals.set(client.iss, received)
    client.onEvent = (frame) => {
      if (frame.type !== 'chat.message' || typeof frame.jti !== 'string') return
      const [sender = '', seq = ''] = String(frame.body).split(' ')
      received.push({ jti: frame.jti, sender, seq: Number(seq) })
    }
  }

  /** A request retried on the replies that say "try again"; any other error is counted and returned. */
  const attempt = async (
    client: BenchClient,
    action: string,
    fields: Record<string, unknown>,
    onSent?: () => void,
  ) => {
    let reply: Reply = { type: 'error' }
    for (let tries = 0; tries < 4; tries++) {
      if (tries > 0) counts.retries++
      reply = await client.request(action, fields, tries === 0 ? onSent : undefined)
      if (reply.type === 'ack' || !retryable.has(String(reply.code))) break
    }
    if (reply.type !== 'ack') {
      counts.errors++
      if (problems.length < 20)
        problems.push(`${client.iss} ${action} ${JSON.stringify(fields)}: ${JSON.stringify(reply)}`)
    }
    return reply
  }

  // Membership plan: group g is owned by identity g; identity i is invited to group i + 1 (so no group
  // is empty) and to a few more at random.
  const owner = (gid: string) => byIss.get(identities[gids.indexOf(gid)] ?? '') as BenchClient
  const invitees = new Map<string, string[]>(gids.map((gid) => [gid, []]))
  identities.forEach((iss, i) => {
    const first = gids[(i + 1) % groupCount] ?? ''
    const others = gids.filter((gid, g) => g !== i && gid !== first)
    for (const gid of [first, ...pick(others, perIdentity - 1, random)]) invitees.get(gid)?.push(iss)
  })

  log(`creating ${groupCount} groups…`)
  const joined = new Map<string, Set<string>>(identities.map((iss) => [iss, new Set()]))
  const pending = new Map<string, Set<string>>(identities.map((iss) => [iss, new Set()]))
  await mapLimited(gids, 8, async (gid) => {
    const creator = owner(gid)
    const members = invitees.get(gid) ?? []
    const stretch: Stretch = { joinSentAt: performance.now() }
    stretchesOf(creator.iss, gid).push(stretch)
    for (let i = 0; i < members.length; i += 50) {
      await attempt(creator, 'invite', { gid, name: gid, members: members.slice(i, i + 50) })
      stretch.joinAckAt ??= performance.now()
    }
    joined.get(creator.iss)?.add(gid)
    for (const iss of members) pending.get(iss)?.add(gid)
  })

  const join = async (client: BenchClient, gid: string) => {
    pending.get(client.iss)?.delete(gid)
    const stretch: Stretch = { joinSentAt: 0 }
    stretchesOf(client.iss, gid).push(stretch)
    const reply = await attempt(client, 'join', { gid }, () => {
      stretch.joinSentAt = performance.now()
    })
    if (reply.type !== 'ack') return
    stretch.joinAckAt = performance.now()
    joined.get(client.iss)?.add(gid)
    counts.joins++
  }

  // The member's client stops sending to the group before the leave goes out, as an app would.
  const leaveAndComeBack = async (client: BenchClient, gid: string) => {
    joined.get(client.iss)?.delete(gid)
    const stretch = stretchesOf(client.iss, gid).at(-1)
    const reply = await attempt(client, 'leave', { gid }, () => {
      if (stretch) stretch.leaveSentAt = performance.now()
    })
    if (reply.type !== 'ack') return
    if (stretch) stretch.leaveAckAt = performance.now()
    counts.leaves++
    const invited = await attempt(owner(gid), 'invite', { gid, name: gid, members: [client.iss] })
    if (invited.type === 'ack') pending.get(client.iss)?.add(gid)
  }

  log('joining most invitations…')
  const startJoins = clients.flatMap((client) =>
    [...(pending.get(client.iss) ?? [])]
      .filter(() => random() < joinedAtStart)
      .map((gid) => ({ client, gid })),
  )
  await mapLimited(startJoins, 16, ({ client, gid }) => join(client, gid))

  const joinsBefore = counts.joins
  counts.joins = 0
  log(`sending ${budget.left} messages while members join and leave…`)
  const startedAt = performance.now()
  const sequence = new Map<string, number>()
  const send = async (client: BenchClient, gid: string) => {
    const seq = (sequence.get(client.iss) ?? 0) + 1
    sequence.set(client.iss, seq)
    const message: SentMessage = {
      jti: `${client.iss}-${seq}`,
      gid,
      sender: client.iss,
      seq,
      sentAt: 0,
      ackAt: Number.POSITIVE_INFINITY,
    }
    sent.set(message.jti, message)
    const reply = await attempt(
      client,
      'message',
      { gid, jti: message.jti, body: `${client.iss} ${seq}` },
      () => {
        message.sentAt = performance.now()
      },
    )
    if (reply.type === 'ack') message.ackAt = performance.now()
  }
  await Promise.all(
    clients.map(async (client) => {
      const mine = joined.get(client.iss) ?? new Set()
      const invitedTo = pending.get(client.iss) ?? new Set()
      while (budget.left > 0) {
        const roll = random()
        const [late] = pick([...invitedTo], 1, random)
        if (late !== undefined && (mine.size === 0 || roll < 0.05)) {
          await join(client, late)
          continue
        }
        const leavable = [...mine].filter((gid) => owner(gid) !== client)
        const [leaving] = pick(leavable, 1, random)
        if (leaving !== undefined && roll > 1 - churn) {
          await leaveAndComeBack(client, leaving)
          continue
        }
        const [gid] = pick([...mine], 1, random)
        if (gid === undefined) return
        budget.left--
        await send(client, gid)
      }
    }),
  )
  const seconds = (performance.now() - startedAt) / 1000
  await Promise.all(clients.map((c) => c.settle()))
  await mapLimited(clients, 32, (c) => c.close())

  const verdict = judge(sent, arrivals, (iss, gid) => stretches.get(key(iss, gid)) ?? [], problems)
  const report: LoadReport = {
    ok: false,
    connections,
    groups: groupCount,
    sent: sent.size,
    joinsBefore,
    ...verdict,
    ...counts,
    seconds: Math.round(seconds * 10) / 10,
    messagesPerSecond: Math.round(sent.size / seconds),
    deliveriesPerSecond: Math.round(verdict.arrived / seconds),
    problems,
  }
  report.ok =
    report.lost === 0 &&
    report.duplicated === 0 &&
    report.outOfOrder === 0 &&
    report.misdelivered === 0 &&
    report.errors === 0
  return report
}

/** Checks every arrival against the membership each client recorded, and every owed delivery against arrivals. */
function judge(
  sent: Map<string, SentMessage>,
  arrivals: Map<string, Arrival[]>,
  stretchesOf: (iss: string, gid: string) => Stretch[],
  problems: string[],
) {
  const tell = (line: string) => {
    if (problems.length < 20) problems.push(line)
  }
  const verdict = {
    expected: 0,
    arrived: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    misdelivered: 0,
    uncertain: 0,
  }
  const received = new Map<string, Map<string, number>>()
  for (const [iss, list] of arrivals) {
    const lastSeq = new Map<string, number>()
    const seen = new Map<string, number>()
    received.set(iss, seen)
    for (const arrival of list) {
      const message = sent.get(arrival.jti)
      if (message === undefined) continue
      verdict.arrived++
      const copies = (seen.get(arrival.jti) ?? 0) + 1
      seen.set(arrival.jti, copies)
      // A second copy is a duplicate, counted below; only first copies are checked for order.
      if (copies > 1) continue
      if (arrival.seq <= (lastSeq.get(arrival.sender) ?? 0)) {
        verdict.outOfOrder++
        tell(`${iss} got ${arrival.sender} #${arrival.seq} after #${lastSeq.get(arrival.sender)}`)
      }
      lastSeq.set(arrival.sender, Math.max(arrival.seq, lastSeq.get(arrival.sender) ?? 0))
    }
  }
  for (const [iss, seen] of received) {
    for (const [jti, count] of seen) {
      const message = sent.get(jti)
      if (message === undefined) continue
      if (count > 1) {
        verdict.duplicated += count - 1
        tell(`${iss} got ${jti} ${count} times`)
      }
      const stretches = stretchesOf(iss, message.gid)
      const possiblyJoined = stretches.some(
        (s) => s.joinSentAt <= message.ackAt && (s.leaveAckAt ?? Number.POSITIVE_INFINITY) >= message.sentAt,
      )
      if (iss === message.sender || !possiblyJoined) {
        verdict.misdelivered += count
        tell(`${jti} (${message.gid}) reached ${iss}, who was certainly not joined`)
      } else if (!certainlyJoined(stretches, message)) {
        verdict.uncertain += count
      }
    }
  }
  for (const message of sent.values()) {
    if (message.ackAt === Number.POSITIVE_INFINITY) continue
    for (const [iss] of arrivals) {
      if (iss === message.sender || !certainlyJoined(stretchesOf(iss, message.gid), message)) continue
      verdict.expected++
      if (!received.get(iss)?.has(message.jti)) {
        verdict.lost++
        tell(`${message.jti} (${message.gid}) never reached ${iss}, who was joined`)
      }
    }
  }
  return verdict
}

/** Joined for the whole time the message was in flight: join acked before the send, no leave before the ack. */
function certainlyJoined(stretches: Stretch[], message: SentMessage): boolean {
  return stretches.some(
    (s) =>
      s.joinAckAt !== undefined &&
      s.joinAckAt <= message.sentAt &&
      (s.leaveSentAt === undefined || s.leaveSentAt >= message.ackAt),
  )
}

/** Up to `count` distinct items, chosen at random. */
function pick<T>(items: readonly T[], count: number, random: () => number): T[] {
  const pool = [...items]
  const chosen: T[] = []
  while (chosen.length < count && pool.length > 0) {
    chosen.push(pool.splice(Math.floor(random() * pool.length), 1)[0] as T)
  }
  return chosen
}

/** A small seeded generator (mulberry32), so a run's choices can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}
