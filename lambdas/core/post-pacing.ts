/**
 * The fan-out workers' share of the account's request rate, held by every instance together: each worker
 * reserves its posts' slots in chunks from one budget and starts each post no sooner than its slot.
 */
export interface PostBudget {
  /**
   * Reserves the next `count` slots of a budget of `perSecond` posts a second, the same budget for every
   * function instance, none before `notBefore` (epoch ms): when the first slot is, the others following it
   * `1000 / perSecond` ms apart. Reserved slots are never handed out again, whether or not they are used.
   */
  reserve(count: number, perSecond: number, notBefore: number): Promise<number>
}

/** How a worker's posts are paced. */
export interface PostPacing {
  budget: PostBudget
  /** The workers' posts a second, all instances together. */
  perSecond: number
  /** Slots reserved at once (`chunkOf(perSecond)` when absent). */
  chunk?: number
  /** How late (ms) a slot may still be used (`defaultLatenessMs` when absent). */
  latenessMs?: number
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

/** A chunk is 20 ms of the budget: about 50 reservations a second on the budget's item, whatever the rate. */
export function chunkOf(perSecond: number): number {
  return Math.max(1, Math.round(perSecond / 50))
}

/** The most a slot may be used after its time (ms). */
export const defaultLatenessMs = 20
/** How much later than another started before it a post may reach API Gateway (ms): a socket's queue, a busy
 * CPU. The slots leave room for it, so that the gateway too counts no more than the budget in any second. */
const transitMs = 30

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Reservation {
  /** The first slot's time, epoch ms. */
  start: number
  count: number
  used: number
}

/**
 * Paces one worker's posts of one slice: `next` resolves when the next post may start, never before its
 * slot. Slots are taken in call order, and once `mayWait` refuses a wait (the worker's deadline) every later
 * call is refused too, so the posts started are a prefix. The next chunk is reserved while the current one
 * is used, so that a lone worker keeps the budget's pace; no more is reserved than the slice has posts. A
 * worker held up (a busy CPU, a slow post) does not catch up in a burst: a slot more than `latenessMs` gone
 * is skipped. Slots are spaced for a second, its lateness and the posts' transit (1,050 ms at the default),
 * so that even posts started late and arriving bunched keep every second within the budget: all workers
 * together start at most `perSecond` posts (and the one a window may open with) in any second, at 95 % of
 * it when busy.
 */
export class PostPacer {
  private readonly chunk: number
  private readonly interval: number
  /** The budget as reserved: `perSecond` over a second and its lateness. */
  private readonly reservedPerSecond: number
  private readonly lateness: number
  private readonly now: () => number
  private readonly sleep: (ms: number) => Promise<void>
  private current: Reservation | undefined
  private upcoming: Promise<Reservation> | undefined
  /** Posts the slice has left that no reserved slot covers. */
  private unreserved: number
  private refused = false
  private heldUntil = 0
  /** The last reservation's round trip: a chunk asked for now starts no sooner than it can arrive. */
  private roundTrip = 0
  private turn: Promise<unknown> = Promise.resolve()
  /** Why the budget could not be reached, when it could not: the worker then stops, for its retry. */
  failure: unknown

  constructor(
    private readonly pacing: PostPacing,
    /** Posts the slice has left to make. */
    posts: number,
  ) {
    this.chunk = pacing.chunk ?? chunkOf(pacing.perSecond)
    this.lateness = pacing.latenessMs ?? defaultLatenessMs
    this.reservedPerSecond = (pacing.perSecond * 1000) / (1000 + this.lateness + transitMs)
    this.interval = 1000 / this.reservedPerSecond
    this.now = pacing.now ?? Date.now
    this.sleep = pacing.sleep ?? realSleep
    this.unreserved = posts
  }

  /**
   * Waits for the next post's slot: true when it may start now, false when `mayWait(ms)` refused the wait
   * (or the budget could not be reached), and for every call after that.
   */
  next(mayWait: (waitMs: number) => boolean = () => true): Promise<boolean> {
    const granted = this.turn.then(() => this.take(mayWait))
    this.turn = granted
    return granted
  }

  /** Starts no post before `ms` from now: the account throttled one, so the worker as a whole backs off. */
  holdFor(ms: number): void {
    this.heldUntil = Math.max(this.heldUntil, this.now() + ms)
  }

  private async take(mayWait: (waitMs: number) => boolean): Promise<boolean> {
    if (this.refused) return false
    try {
      const slot = await this.slot()
      if (slot === undefined) return this.refuse()
      const wait = Math.max(0, Math.max(slot, this.heldUntil) - this.now())
      if (!mayWait(wait)) return this.refuse()
      if (wait > 0) await this.sleep(wait)
      // A hold that began during the wait moves this post past it too.
      const held = this.heldUntil - this.now()
      if (held > 0) await this.sleep(held)
      return true
    } catch (error) {
      this.failure = error
      return this.refuse()
    }
  }

  /** The next usable slot's time, reserving chunks as they are spent; undefined when the slice has none left. */
  private async slot(): Promise<number | undefined> {
    for (;;) {
      const current = this.current
      if (current !== undefined && current.used < current.count) {
        const onTime = Math.ceil((this.now() - this.lateness - current.start) / this.interval)
        if (onTime > current.used) {
          const skipped = Math.min(onTime, current.count) - current.used
          current.used += skipped
          this.unreserved += skipped
          continue
        }
        return current.start + current.used++ * this.interval
      }
      const upcoming = this.upcoming ?? this.reserve()
      this.upcoming = undefined
      if (upcoming === undefined) return undefined
      this.current = await upcoming
      this.upcoming = this.reserve()
      // Only the call that awaits it may stop the worker; a failure is kept for then.
      this.upcoming?.catch(() => undefined)
    }
  }

  private reserve(): Promise<Reservation> | undefined {
    const count = Math.min(this.chunk, this.unreserved)
    if (count <= 0) return undefined
    this.unreserved -= count
    const asked = this.now()
    return this.pacing.budget.reserve(count, this.reservedPerSecond, asked + this.roundTrip).then((start) => {
      this.roundTrip = this.now() - asked
      return { start, count, used: 0 }
    })
  }

  private refuse(): false {
    this.refused = true
    return false
  }
}

/**
 * An error a sender throws for a post the account's request rate refused (429) after any retries of its
 * own: `{ throttled: true }`. A worker waits it out; it is never a failed post, nor a gone connection.
 */
export function isThrottled(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { throttled?: unknown }).throttled === true
}

/** How a throttled post waits before it is sent again: jittered, doubling from `baseMs` up to `capMs`. */
export interface ThrottleBackoff {
  baseMs: number
  capMs: number
}

/** The account's bucket refills in about a second: waits start at 100 ms and stop growing at 2 s. */
export const defaultThrottleBackoff: ThrottleBackoff = { baseMs: 100, capMs: 2000 }

/** Full jitter: random × min(cap, base × 2^(attempt − 1)). */
export function backoffMs(backoff: ThrottleBackoff, attempt: number, random = Math.random): number {
  return Math.floor(random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** (attempt - 1)))
}
