import type { ChatEvent } from '@huddle/client/protocol'
import { forEachLimited } from './concurrency.js'
import type { Caller, Member, Recipients } from './model.js'
import type {
  ConnectionStore,
  DeliveryReport,
  DeliveryTarget,
  EventSender,
  FanOutSlice,
  FanOutSlices,
  FanOutWorkers,
  GroupStore,
} from './ports.js'
import { backoffMs, defaultThrottleBackoff, isThrottled, PostPacer, type PostPacing } from './post-pacing.js'

/** Whom one event goes to: every open connection of the recipients, read before the post. */
export interface DeliveryPlan {
  recipients: number
  targets: DeliveryTarget[]
  started: number
}

export interface DeliveryOptions {
  store: Pick<ConnectionStore, 'connectionsOf' | 'deleteConnection'> &
    Pick<GroupStore, 'readRecipients'> &
    FanOutSlices
  sender: EventSender
  /** Posts in flight at once in one function. */
  concurrency: number
  /** Where the connections past a fan-out's first `sliceSize` go, `sliceSize` at a time; without workers,
   * one function posts them all. */
  workers?: FanOutWorkers
  sliceSize: number
  newId(): string
  onDelivery?: (report: DeliveryReport) => void
  /**
   * Paces a worker's posts (postSlice) within the budget all workers share. The function's own slice is a
   * lane of its own, never paced: a small group's event is not queued behind a broadcast.
   */
  pacing?: PostPacing
  /** The sender a worker's slice posts through (`sender` when absent): one that leaves a 429 to the worker
   * at once, which waits it out within its deadline. */
  sliceSender?: EventSender
  /** Waits out a throttled post (a timer by default). */
  sleep?: (ms: number) => Promise<void>
}

/** A worker starts no post this close to its deadline: what is left is recorded, for its retry. */
const deadlineMarginMs = 10_000
/** A throttled post on a worker is sent again only while this much time would be left after its wait. */
const throttledFloorMs = 2_000
/** Gone connections an instance remembers. */
const goneRemembered = 10_000
/** How long a slice's record is kept: long enough to recognise any repeated invocation of it. */
const sliceRecordSeconds = 24 * 60 * 60

/**
 * Turns identities into connections and posts events to them. Posting is at most once: a post that
 * fails is counted, and the recipient's client recovers the event from the group's log by its seq. A
 * large fan-out is shared: the function posts the first slice and hands each other slice to a worker.
 */
export class Delivery {
  /** Connections this instance found gone, oldest first: each is forgotten once, however many fan-outs meet
   * it before its memberships' copies lose it, and not posted to again. */
  private readonly gone = new Map<string, Promise<void>>()

  constructor(private readonly options: DeliveryOptions) {}

  /** Posts one event to every connection of each recipient, except the connection it came from. */
  async deliver(event: ChatEvent, recipients: string[], origin?: Caller): Promise<DeliveryReport> {
    return this.post(event, await this.plan(recipients, origin))
  }

  /**
   * Posts one event to the connections of `members` joined at its seq that are still joined (their
   * connections read now), and to the connections of `others` (read), each connection once.
   */
  async toMembers(
    event: ChatEvent & { gid: string },
    members: Member[],
    origin?: Caller,
    others: string[] = [],
  ): Promise<DeliveryReport> {
    const started = Date.now()
    const now = await this.options.store.readRecipients(event.gid)
    const joined = new Set(members.filter((m) => m.status === 'joined').map((m) => m.iss))
    const connections = new Map([...(now?.connections ?? [])].filter(([iss]) => joined.has(iss)))
    const plan = this.targets(connections, origin, started)
    if (others.length > 0) {
      const known = new Set(plan.targets.map((t) => t.connectionId))
      const more = await this.plan(others, origin)
      plan.targets.push(...more.targets.filter((t) => !known.has(t.connectionId)))
    }
    plan.recipients = new Set([...joined, ...others]).size
    return this.post(event, plan)
  }

  /** Posts one event to every connection of a group's recipients, read as the event was decided on. */
  toRecipients(event: ChatEvent, recipients: Recipients, origin?: Caller): Promise<DeliveryReport> {
    return this.post(event, this.targets(recipients.connections, origin, Date.now()))
  }

  /**
   * Posts one event to one connection, the caller's own; true when it was sent. A caller's connection
   * found gone is left to its $disconnect (a read-only use case such as sync may not forget it).
   */
  async toCaller(event: ChatEvent, caller: Caller): Promise<boolean> {
    const plan = { recipients: 1, targets: [caller], started: Date.now() }
    return (await this.post(event, plan, false)).sent === 1
  }

  /** Reads the recipients' connections in batches; the originating connection is left out. */
  async plan(recipients: string[], origin?: Caller): Promise<DeliveryPlan> {
    const started = Date.now()
    const plan = this.targets(await this.options.store.connectionsOf(recipients), origin, started)
    plan.recipients = recipients.length
    return plan
  }

  /** Every connection of each identity, but the originating one. */
  private targets(
    connections: Map<string, string[]>,
    origin: Caller | undefined,
    started: number,
  ): DeliveryPlan {
    const targets: DeliveryTarget[] = []
    for (const [iss, ids] of connections) {
      for (const connectionId of ids)
        if (connectionId !== origin?.connectionId) targets.push({ iss, connectionId })
    }
    return { recipients: connections.size, targets, started }
  }

  /**
   * Posts the event, serialized once: the first slice of its connections here, every other slice by a
   * worker of its own, all at once.
   */
  async post(event: ChatEvent, plan: DeliveryPlan, forgetGone = true): Promise<DeliveryReport> {
    const data = JSON.stringify(event)
    const report = newReport(event.type, plan.recipients, plan.targets.length)
    const { workers, sliceSize } = this.options
    const [own = [], ...slices] = workers ? chunks(plan.targets, sliceSize) : [plan.targets]
    await Promise.all([
      this.postEach(data, own, report, undefined, forgetGone),
      this.handOver(event.type, data, slices, report),
    ])
    return this.finish(report, plan.started)
  }

  /**
   * A worker's share of a fan-out: posts each connection of the slice once, even when the invocation is
   * repeated (the slice is claimed first: a repeat finds it taken or done and does nothing) or retried (the
   * retry posts only what is left). Close to `remainingMs`' end it starts no more posts, records how far
   * it got and fails, for its retry. Undefined when the slice was not this invocation's to post.
   */
  async postSlice(slice: FanOutSlice, remainingMs: () => number): Promise<DeliveryReport | undefined> {
    const { store, newId } = this.options
    const started = Date.now()
    const owner = newId()
    const expiresAt = Math.ceil(started / 1000) + sliceRecordSeconds
    const from = await store.claimSlice(slice.id, owner, started, started + remainingMs(), expiresAt)
    if (from === undefined) return undefined

    const recipients = new Set(slice.targets.map((t) => t.iss)).size
    const report = newReport(slice.event, recipients, slice.targets.length)
    const pacer = this.options.pacing && new PostPacer(this.options.pacing, slice.targets.length - from)
    const mayWait = (waitMs: number) => remainingMs() - waitMs >= deadlineMarginMs
    // Posts start in order and none starts after the first refusal, so the ones made are a prefix.
    let posted = from
    const left = await this.postEach(
      slice.data,
      slice.targets.slice(from),
      report,
      async () => {
        if (!(pacer ? await pacer.next(mayWait) : mayWait(0))) return false
        posted++
        return true
      },
      true,
      async (attempt) => {
        // The account is past its rate: this worker starts nothing new until the wait is over.
        const wait = backoffMs(defaultThrottleBackoff, attempt)
        if (remainingMs() - wait < throttledFloorMs) return false
        pacer?.holdFor(wait)
        await this.sleep(wait)
        return true
      },
    )
    // A post still throttled at the deadline is left with those after it, for the retry.
    if (left !== undefined) posted = Math.min(posted, from + left)
    const done = posted === slice.targets.length
    if (!done) {
      await store.recordSlice(slice.id, owner, posted, false)
      const progress = `fan-out slice ${slice.id}: ${posted} of ${slice.targets.length} posted`
      // Without its budget a worker does not post unpaced: it stops, for its retry.
      if (pacer?.failure !== undefined) {
        throw new Error(`${progress}: the post budget could not be reached`, { cause: pacer.failure })
      }
      throw new Error(`${progress} before the deadline`)
    }
    // Every post is made: were the record to fail, a retry would only post them again.
    await store.recordSlice(slice.id, owner, posted, true).catch(() => undefined)
    return this.finish(report, started)
  }

  /**
   * Posts to each target, `concurrency` at a time, while `mayStart` allows. A gone connection is the
   * recipient's stale one: it is forgotten (unless `forgetGone` is false) and the others still get the
   * event. A throttled post is sent again while `throttled(attempt)` allows (it waits), else left: the
   * index of the first target left is returned; without `throttled` it counts as failed.
   */
  private async postEach(
    data: string,
    targets: DeliveryTarget[],
    report: DeliveryReport,
    mayStart: () => boolean | Promise<boolean> = () => true,
    forgetGone = true,
    throttled?: (attempt: number) => Promise<boolean>,
  ): Promise<number | undefined> {
    const { concurrency } = this.options
    let stopped = false
    let left: number | undefined
    const indexed = targets.map((target, index) => ({ ...target, index }))
    await forEachLimited(indexed, concurrency, async ({ iss, connectionId, index }) => {
      if (stopped || !(await mayStart())) {
        stopped = true
        return
      }
      try {
        const outcome = this.gone.has(connectionId) ? 'gone' : await this.send(connectionId, data, throttled)
        if (outcome === 'left') {
          left = Math.min(left ?? index, index)
        } else if (outcome === 'sent') {
          report.sent++
        } else {
          report.pruned++
          // Looked up again: another fan-out may have found it gone while this post was out.
          if (forgetGone) await (this.gone.get(connectionId) ?? this.forget(connectionId, iss))
        }
      } catch {
        report.failed++
      }
    })
    return left
  }

  /** One post, sent again after each throttle while `throttled` allows; 'left' when it no longer does. */
  private async send(
    connectionId: string,
    data: string,
    throttled?: (attempt: number) => Promise<boolean>,
  ): Promise<'sent' | 'gone' | 'left'> {
    const { sender, sliceSender } = this.options
    const through = throttled === undefined ? sender : (sliceSender ?? sender)
    for (let attempt = 1; ; attempt++) {
      try {
        return await through.send(connectionId, data)
      } catch (error) {
        if (throttled === undefined || !isThrottled(error)) throw error
        if (!(await throttled(attempt))) return 'left'
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.options.sleep ? this.options.sleep(ms) : new Promise((resolve) => setTimeout(resolve, ms))
  }

  /** Forgets a gone connection once for every fan-out of this instance that meets it. */
  private forget(connectionId: string, iss: string): Promise<void> {
    const forgetting = this.options.store.deleteConnection(connectionId, iss)
    // A failed attempt is not remembered: the next fan-out to meet the connection tries again.
    forgetting.catch(() => this.gone.delete(connectionId))
    this.gone.set(connectionId, forgetting)
    if (this.gone.size > goneRemembered) this.gone.delete(this.gone.keys().next().value as string)
    return forgetting
  }

  /** Hands each slice to a worker; a slice no worker took counts as failed posts. */
  private async handOver(
    event: string,
    data: string,
    slices: DeliveryTarget[][],
    report: DeliveryReport,
  ): Promise<void> {
    const { workers, newId, concurrency } = this.options
    if (!workers || slices.length === 0) return
    const fanOut = newId()
    const named = slices.map((targets, n) => ({ id: `${fanOut}/${n + 1}`, event, data, targets }))
    await forEachLimited(named, concurrency, async (slice) => {
      try {
        await workers.dispatch(slice)
        report.handedOver += slice.targets.length
      } catch {
        report.failed += slice.targets.length
      }
    })
  }

  private finish(report: DeliveryReport, started: number): DeliveryReport {
    report.millis = Date.now() - started
    this.options.onDelivery?.(report)
    return report
  }
}

function newReport(event: string, recipients: number, connections: number): DeliveryReport {
  return { event, recipients, connections, sent: 0, pruned: 0, failed: 0, handedOver: 0, millis: 0 }
}

/** `items` in runs of `size`, in order (one empty run when there are none). */
function chunks<T>(items: T[], size: number): T[][] {
  if (items.length <= size) return [items]
  return Array.from({ length: Math.ceil(items.length / size) }, (_, n) =>
    items.slice(n * size, (n + 1) * size),
  )
}
