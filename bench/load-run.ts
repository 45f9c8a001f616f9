import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChatClient, ChatError, type ChatGroup, type ChatService, type GroupEvent } from '@huddle/client'
import { limits } from '@huddle/client/protocol'
import WebSocket from 'ws'
import { closeDevConnection, fetchDevToken } from '../local/dev-tokens.js'
import { mapLimited } from './ws-client.js'

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
  /** Sockets closed through the management API per second while the run goes on; clients reconnect. */
  cutsPerSecond?: number
  /** Chance per pause that a group's owner, besides talking, runs it: renames it, makes a member admin and
   * takes that back, removes a member, or bans one and unbans it (both invited back at once). */
  adminRate?: number
  /** Mean pause of a client between its steps, in ms, as a person pauses between messages (20 s: 300
   * clients then offer about what two cores can serve, so the run measures delivery, not queueing). */
  thinkMs?: number
  seed?: number
  log?: (line: string) => void
}

/** What the apps were handed; `ok` only when nothing was lost, duplicated, reordered, misdelivered or refused. */
export interface LoadReport {
  ok: boolean
  connections: number
  groups: number
  sent: number
  /** Events owed: the messages, joins and leaves of others in the group's log, with seqs inside one of the
   * member's stretches (from its join to its leave, as the log has them). */
  expected: number
  /** Events the SDK handed the apps, every copy counted. */
  arrived: number
  lost: number
  duplicated: number
  /** Messages handed in a group after one with a higher (or the same) seq. */
  outOfOrder: number
  /** Events handed to a member that was not owed them: its own, or from outside its stretches; and acked
   * messages the log does not hold at their acked seq. */
  misdelivered: number
  /** Joins before the run started, then joins and leaves during it. */
  joinsBefore: number
  joins: number
  leaves: number
  /** Admins' actions: renames, promotions (each taken back), removals and bans (each lifted). */
  renames: number
  promotions: number
  removals: number
  bans: number
  /** Messages refused because an admin had just removed or banned their sender: the app was told. */
  refusedAfterRemoval: number
  /** Requests that finally failed, and errors the SDK reported (say, a refused catch-up read). */
  errors: number
  /** Requests the SDK gave up waiting for an answer to (TIMEOUT), among the errors. */
  unanswered: number
  /** Answers INTERNAL (a fault on the server), even those the SDK then sent again with success. */
  internal: number
  /** API Gateway's own error frames (a function that failed, timed out or was throttled), likewise. */
  gatewayErrors: number
  /** Messages acked `duplicate: true`: re-sent by the SDK after a cut, and already stored. */
  retries: number
  cuts: number
  /** 'reconnecting' statuses, summed over the clients. */
  reconnects: number
  seconds: number
  messagesPerSecond: number
  deliveriesPerSecond: number
  /** The first few violations, spelled out. */
  problems: string[]
}

/** One identity: an SDK client on one connection, and where it stands in each group. */
interface Member {
  iss: string
  client: ChatClient
  chat: ChatService
  /** Groups joined, as the SDK returned them. */
  joined: Map<string, ChatGroup>
  /** Groups invited to and not joined, yet or again. */
  invited: Set<string>
}

/** A member's joined stretch of a group: the seqs of its join (0 for the creator) and of its leave. */
interface Stretch {
  join: number
  leave: number
}

/** An event as an app is handed it: a message by its jti (with its seq), another event by its type and
 * the identity it names, `join <iss>`. */
interface Handed {
  label: string
  seq?: number
}

/** What a run saw, for the judge; what the apps were handed is keyed by `memberKey`. */
interface Recorded {
  /** Each acked message's group and seq, by jti. */
  acked: Map<string, { gid: string; seq: number }>
  handed: Map<string, Handed[]>
  /** Each group's whole log, read by its owner once everything has settled. */
  logs: Map<string, GroupEvent[]>
}

/**
 * Hundreds of SDK clients in tens of groups send messages while members join and leave and sockets are
 * cut at random; then what each app was handed is checked, exactly, against the seqs in the acks.
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const connections = options.connections ?? 300
  const groupCount = options.groups ?? 20
  const budget = { left: options.messages ?? 3000 }
  const perIdentity = Math.min(options.groupsPerIdentity ?? 2, groupCount - 1)
  const joinedAtStart = options.joinedAtStart ?? 0.8
  const churn = options.churn ?? 0.02
  const cutsPerSecond = options.cutsPerSecond ?? 5
  const adminRate = options.adminRate ?? 0.05
  const thinkMs = options.thinkMs ?? 20_000
  const random = seededRandom(options.seed ?? 1)
  const log = options.log ?? (() => {})
  if (connections < groupCount) throw new Error('need at least one connection per group (its owner)')

  const run = randomBytes(3).toString('hex')
  const identities = Array.from({ length: connections }, (_, i) => `load-${run}-u${i}`)
  const gids = Array.from({ length: groupCount }, (_, g) => `load-${run}-g${g}`)
  const recorded: Recorded = { acked: new Map(), handed: new Map(), logs: new Map() }
  // The first 20 of each kind, so that a flood of failed requests cannot hide what the apps were handed.
  const failures: string[] = []
  const findings: string[] = []
  const firstOf = (lines: string[]) => (line: string) => {
    if (lines.length < 20) lines.push(line)
  }
  const counts = {
    sent: 0,
    joins: 0,
    leaves: 0,
    renames: 0,
    promotions: 0,
    removals: 0,
    bans: 0,
    refusedAfterRemoval: 0,
    errors: 0,
    unanswered: 0,
    internal: 0,
    gatewayErrors: 0,
    retries: 0,
    reconnects: 0,
  }
  const failed = (what: string, error: unknown) => {
    counts.errors++
    if (error instanceof ChatError && error.code === 'TIMEOUT') counts.unanswered++
    firstOf(failures)(`${what}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const handedTo = (iss: string, gid: string) => listAt(recorded.handed, memberKey(iss, gid))

  /** A socket that counts the error answers the SDK sees, including those it retries on its own. */
  class CountingSocket extends WebSocket {
    constructor(url: string) {
      super(url)
      this.on('message', (data) => {
        const text = String(data)
        if (text.includes('"code":"INTERNAL"')) counts.internal++
        else if (text.startsWith('{"message"')) counts.gatewayErrors++
      })
    }
  }

  log(`connecting ${connections} SDK clients…`)
  const wsUrl = options.httpUrl.replace(/^http/, 'ws')
  const members = await mapLimited(identities, 16, async (iss): Promise<Member> => {
    const client = await ChatClient.connect(wsUrl, {
      token: () => fetchDevToken(options.httpUrl, iss),
      // Hundreds of clients on one machine queue behind each other: a slow answer is not a lost one.
      timeoutMs: 120_000,
      WebSocket: CountingSocket,
      onError: (error) => failed(`${iss} (reported by the SDK)`, error),
    })
    const chat = client.chat()
    chat.onMessage(({ gid, jti, seq }) => handedTo(iss, gid).push({ label: jti, seq }))
    chat.onJoin((who, gid) => handedTo(iss, gid).push({ label: `join ${who}` }))
    chat.onLeave((who, gid) => handedTo(iss, gid).push({ label: `leave ${who}` }))
    chat.onChange((change) => handedTo(iss, change.gid).push({ label: labelOf(change) }))
    client.onStatus((status) => {
      if (status === 'reconnecting') counts.reconnects++
    })
    return { iss, client, chat, joined: new Map(), invited: new Set() }
  })

  /** Runs one SDK call; a call that finally fails is counted and spelled out. */
  const attempt = async <T>(what: string, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call()
    } catch (error) {
      failed(what, error)
      return undefined
    }
  }

  // Membership plan: group g is owned by identity g; identity i is invited to group i + 1 (so no group
  // is empty) and to a few more at random.
  const owner = (gid: string) => members[gids.indexOf(gid)] as Member
  const invitees = new Map<string, string[]>(gids.map((gid) => [gid, []]))
  identities.forEach((iss, i) => {
    const first = gids[(i + 1) % groupCount] ?? ''
    const others = gids.filter((gid, g) => g !== i && gid !== first)
    for (const gid of [first, ...pick(others, perIdentity - 1, random)]) invitees.get(gid)?.push(iss)
  })
  const byIss = new Map(members.map((m) => [m.iss, m]))

  log(`creating ${groupCount} groups…`)
  await mapLimited(gids, 8, async (gid) => {
    const creator = owner(gid)
    const invited = invitees.get(gid) ?? []
    const batch = limits.membersPerInvite
    const group = await attempt(`${creator.iss} create ${gid}`, () =>
      creator.chat.invite(gid, gid, invited.slice(0, batch)),
    )
    if (group === undefined) return
    for (let i = batch; i < invited.length; i += batch) {
      await attempt(`${creator.iss} invite to ${gid}`, () => group.invite(invited.slice(i, i + batch)))
    }
    creator.joined.set(gid, group)
    for (const iss of invited) byIss.get(iss)?.invited.add(gid)
  })

  const join = async (member: Member, gid: string) => {
    member.invited.delete(gid)
    const group = await attempt(`${member.iss} join ${gid}`, () => member.chat.join(gid))
    if (group === undefined) return
    member.joined.set(gid, group)
    expelled.delete(memberKey(member.iss, gid))
    counts.joins++
  }

  const leaveAndComeBack = async (member: Member, group: ChatGroup) => {
    const { gid } = group
    member.joined.delete(gid)
    if ((await attempt(`${member.iss} leave ${gid}`, () => group.leave().then(() => true))) === undefined)
      return
    counts.leaves++
    const invited = await attempt(`${owner(gid).iss} re-invite ${member.iss} to ${gid}`, async () => {
      await owner(gid).joined.get(gid)?.invite(member.iss)
      return true
    })
    if (invited) member.invited.add(gid)
  }

  /** Members an admin removed or banned from a group, until they join it again. */
  const expelled = new Set<string>()

  const send = async (member: Member, group: ChatGroup) => {
    const jti = `${member.iss}-${counts.sent++}`
    const receipt = await group.message(`${member.iss} says hello`, { jti }).catch((error: unknown) => {
      // A message on its way while an admin removed its sender is refused, and the app told: not a loss.
      const refused = error instanceof ChatError && error.code === 'FORBIDDEN'
      if (refused && expelled.has(memberKey(member.iss, group.gid))) counts.refusedAfterRemoval++
      else failed(`${member.iss} message ${jti}`, error)
      return undefined
    })
    if (receipt === undefined) return
    recorded.acked.set(jti, { gid: group.gid, seq: receipt.seq })
    if (receipt.duplicate) counts.retries++
  }

  /**
   * The owner runs its group. The member it acts on is taken out of the member's own plans first (so that
   * the member does not leave meanwhile), and given back when the action is taken back.
   */
  let adminSteps = 0
  const administer = async (admin: Member, group: ChatGroup) => {
    const { gid } = group
    // The four actions take turns, so that a short run has each of them; one that finds no member to act
    // on waits for the owner's next turn.
    const action = (['rename', 'promote', 'remove', 'ban'] as const)[adminSteps % 4]
    const [target] = pick(
      members.filter((m) => m !== admin && m.joined.has(gid)),
      1,
      random,
    )
    if (action !== 'rename' && target === undefined) return
    adminSteps++
    if (action === 'rename' || target === undefined) {
      const renamed = await attempt(`${admin.iss} rename ${gid}`, () =>
        group.update({ name: `${gid} (${counts.renames + 1})` }).then(() => true),
      )
      if (renamed) counts.renames++
      return
    }
    const theirs = target.joined.get(gid) as ChatGroup
    target.joined.delete(gid)
    if (action === 'promote') {
      const promoted = await attempt(`${admin.iss} promote ${target.iss} in ${gid}`, async () => {
        await group.promote(target.iss)
        await group.demote(target.iss)
        return true
      })
      if (promoted) counts.promotions++
      target.joined.set(gid, theirs)
      return
    }
    const banning = action === 'ban'
    expelled.add(memberKey(target.iss, gid))
    const done = await attempt(
      `${admin.iss} ${banning ? 'ban' : 'remove'} ${target.iss} in ${gid}`,
      async () => {
        if (banning) {
          await group.ban(target.iss)
          await group.unban(target.iss)
        } else {
          await group.remove(target.iss)
        }
        await group.invite(target.iss)
        return true
      },
    )
    if (!done) return
    counts[banning ? 'bans' : 'removals']++
    target.invited.add(gid)
  }

  log('joining most invitations…')
  const startJoins = members.flatMap((member) =>
    [...member.invited].filter(() => random() < joinedAtStart).map((gid) => ({ member, gid })),
  )
  await mapLimited(startJoins, 16, ({ member, gid }) => join(member, gid))
  const joinsBefore = counts.joins
  counts.joins = 0

  log(
    `sending ${budget.left} messages while members join and leave and ${cutsPerSecond} sockets a second are cut…`,
  )
  const stopCutting = new AbortController()
  const cutting = cutSockets(options.httpUrl, identities, cutsPerSecond, random, stopCutting.signal)
  const startedAt = performance.now()
  await Promise.all([
    ...members.map(async (member) => {
      while (budget.left > 0) {
        await sleep(random() * 2 * thinkMs)
        if (budget.left <= 0) return
        const roll = random()
        const [late] = pick([...member.invited], 1, random)
        if (late !== undefined && (member.joined.size === 0 || roll < 0.05)) {
          await join(member, late)
          continue
        }
        const leavable = [...member.joined.values()].filter((group) => owner(group.gid) !== member)
        const [leaving] = pick(leavable, 1, random)
        if (leaving !== undefined && roll > 1 - churn) {
          await leaveAndComeBack(member, leaving)
          continue
        }
        const [group] = pick([...member.joined.values()], 1, random)
        if (group === undefined) return
        budget.left--
        await send(member, group)
      }
    }),
    // Each owner runs its group beside talking in it, as admins do.
    ...gids.map(async (gid) => {
      const admin = owner(gid)
      while (budget.left > 0) {
        await sleep(random() * 2 * thinkMs)
        const group = admin.joined.get(gid)
        if (group !== undefined && budget.left > 0 && random() < adminRate) await administer(admin, group)
      }
    }),
  ])
  const seconds = (performance.now() - startedAt) / 1000
  stopCutting.abort()
  const cuts = await cutting

  log('catching up…')
  await mapLimited(members, 32, (m) => attempt(`${m.iss} catch-up`, () => m.chat.catchUp()))
  await mapLimited(gids, 8, async (gid) => {
    const events = await attempt(`${owner(gid).iss} read ${gid}`, () => readLog(owner(gid).client, gid))
    recorded.logs.set(gid, events ?? [])
  })
  await mapLimited(members, 32, (m) => m.client.close())

  const verdict = judge(
    identities,
    new Map(gids.map((gid) => [gid, owner(gid).iss])),
    recorded,
    firstOf(findings),
  )
  const { sent, ...tallies } = counts
  const report: LoadReport = {
    ok: false,
    connections,
    groups: groupCount,
    sent,
    ...verdict,
    joinsBefore,
    ...tallies,
    cuts,
    seconds: Math.round(seconds * 10) / 10,
    messagesPerSecond: Math.round(sent / seconds),
    deliveriesPerSecond: Math.round(verdict.arrived / seconds),
    problems: [...findings, ...failures],
  }
  report.ok =
    report.lost === 0 &&
    report.duplicated === 0 &&
    report.outOfOrder === 0 &&
    report.misdelivered === 0 &&
    report.errors === 0 &&
    report.internal === 0
  return report
}

/** A group's whole log, as its creator (who may read all of it) pages through it. */
async function readLog(client: ChatClient, gid: string): Promise<GroupEvent[]> {
  const events: GroupEvent[] = []
  let after: number | undefined = 0
  while (after !== undefined) {
    const page: { events: GroupEvent[]; next?: number } = await client.request('history', {
      gid,
      after,
      limit: 100,
    })
    events.push(...page.events)
    after = page.next
  }
  return events
}

/**
 * Checks what each app was handed in each group against the group's log: every message, join and leave
 * of others inside one of the member's stretches (its join to its leave, as the log has them, the
 * creator's from 0), each once, and messages in increasing seq; and every acked message in the log at
 * its acked seq.
 */
function judge(
  identities: string[],
  owners: Map<string, string>,
  recorded: Recorded,
  tell: (line: string) => void,
) {
  const verdict = { expected: 0, arrived: 0, lost: 0, duplicated: 0, outOfOrder: 0, misdelivered: 0 }
  const label = (e: GroupEvent) => (e.type === 'chat.message' ? e.jti : labelOf(e))
  for (const [jti, { gid, seq }] of recorded.acked) {
    const stored = recorded.logs.get(gid)?.find((e) => e.seq === seq)
    if (stored?.type !== 'chat.message' || stored.jti !== jti) {
      verdict.lost++
      tell(`${jti} was acked at seq ${seq} of ${gid}, which the log holds as ${JSON.stringify(stored)}`)
    }
  }
  for (const [gid, owner] of owners) {
    const log = recorded.logs.get(gid) ?? []
    for (const iss of identities) {
      const stretches = stretchesIn(log, iss, iss === owner)
      const owed = new Map<string, number>()
      for (const event of log) {
        // A member is handed what others did in its stretches, up to its own departure when another caused
        // it (a removal or a ban).
        if (actorOf(event) !== iss && stretches.some((s) => s.join < event.seq && event.seq <= s.leave)) {
          owed.set(label(event), (owed.get(label(event)) ?? 0) + 1)
        }
      }
      const copies = new Map<string, number>()
      let last = 0
      for (const event of recorded.handed.get(memberKey(iss, gid)) ?? []) {
        const seen = (copies.get(event.label) ?? 0) + 1
        copies.set(event.label, seen)
        if (event.seq === undefined || seen > 1) continue
        if (event.seq <= last) {
          verdict.outOfOrder++
          tell(`${iss} was handed ${event.label} (seq ${event.seq}) of ${gid} after seq ${last}`)
        }
        last = Math.max(last, event.seq)
      }
      for (const key of new Set([...owed.keys(), ...copies.keys()])) {
        const times = owed.get(key) ?? 0
        const handed = copies.get(key) ?? 0
        verdict.expected += times
        verdict.arrived += handed
        if (handed === times) continue
        if (handed < times) verdict.lost += times - handed
        else if (times > 0) verdict.duplicated += handed - times
        else verdict.misdelivered += handed
        const seq = log.find((event) => label(event) === key)?.seq
        tell(
          `${iss} was handed ${key} (seq ${seq}) ${handed}× and owed it ${times}× in ${gid} (${describe(stretches)}; ` +
            `${log
              .filter((e) => Math.abs(e.seq - (seq ?? 0)) <= 2)
              .map((e) => `${e.seq}: ${label(e)}${'by' in e && e.by ? ` by ${e.by}` : ''}`)
              .join(', ')})`,
        )
      }
    }
  }
  return verdict
}

/** A member's stretches in a group, from its joins and departures (leaves and bans) in the log; the
 * creator's starts at 0. */
function stretchesIn(log: GroupEvent[], iss: string, creator: boolean): Stretch[] {
  const stretches: Stretch[] = creator ? [{ join: 0, leave: Number.POSITIVE_INFINITY }] : []
  for (const event of log) {
    if (event.iss !== iss) continue
    if (event.type === 'chat.join') stretches.push({ join: event.seq, leave: Number.POSITIVE_INFINITY })
    const open = stretches.at(-1)
    if ((event.type === 'chat.leave' || event.type === 'chat.ban') && open && open.leave > event.seq) {
      open.leave = event.seq
    }
  }
  return stretches
}

/** Who did it: an admin (`by`) for what it did to `iss`, else `iss` itself; nobody for a succession. */
function actorOf(event: GroupEvent): string | undefined {
  if ('by' in event && event.by !== undefined) return event.by
  return event.type === 'chat.role' ? undefined : event.iss
}

/** Any event but a message, as the judge counts it: its type and the identity it names. */
function labelOf(event: Exclude<GroupEvent, { type: 'chat.message' }>): string {
  return `${event.type.slice(5)} ${event.iss}`
}

/** Closes random identities' sockets through the management API, `perSecond` a second, until `stop`. */
async function cutSockets(
  httpUrl: string,
  identities: string[],
  perSecond: number,
  random: () => number,
  stop: AbortSignal,
): Promise<number> {
  let cuts = 0
  const startedAt = performance.now()
  for (let n = 1; perSecond > 0 && !stop.aborted; n++) {
    await sleep(Math.max(0, startedAt + (n * 1000) / perSecond - performance.now()))
    const [iss] = pick(identities, 1, random)
    if (iss !== undefined && !stop.aborted) cuts += await cutConnections(httpUrl, iss)
  }
  return cuts
}

/** Closes an identity's open connections from the server side, as DELETE @connections does in AWS. */
async function cutConnections(httpUrl: string, iss: string): Promise<number> {
  const listed = await fetch(`${httpUrl}/dev/connections?sub=${encodeURIComponent(iss)}`)
  const { connectionIds } = (await listed.json()) as { connectionIds: string[] }
  let cut = 0
  for (const id of connectionIds) {
    if ((await closeDevConnection(httpUrl, id)) === 204) cut++
  }
  return cut
}

/** Stretches as seq ranges, an open one without its end: `0–, 12–40`. */
function describe(stretches: Stretch[]): string {
  return stretches.map((s) => `${s.join}–${Number.isFinite(s.leave) ? s.leave : ''}`).join(', ') || 'none'
}

/** Stretches and handed events are kept per member and group. */
function memberKey(iss: string, gid: string): string {
  return `${iss} ${gid}`
}

/** The list at `key`, created empty on first use. */
function listAt<T>(lists: Map<string, T[]>, key: string): T[] {
  const list = lists.get(key) ?? []
  lists.set(key, list)
  return list
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
