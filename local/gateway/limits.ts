/**
 * A token bucket as API Gateway's throttling describes it: `burst` tokens at most, refilled at `rate` a
 * second, one taken per request. Both are read at each take, so that a change to the behaviours in force
 * applies at once; a rate of 0 (or less) lets everything through.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly limit: () => { rate: number; burst: number },
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = Math.max(1, limit().burst)
    this.last = now()
  }

  /** Takes one token; false when there is none (the request is throttled). */
  take(): boolean {
    const { rate, burst } = this.limit()
    if (rate <= 0) return true
    const now = this.now()
    const capacity = Math.max(1, burst)
    this.tokens = Math.min(capacity, this.tokens + ((now - this.last) / 1000) * rate)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/** The figures a PostMeter gives for one caller, or for all. */
export interface PostRate {
  /** Calls counted since `since`. */
  posts: number
  /** The most counted in any window of `windowMs` (sliding, in steps of the meter's bucket). */
  peak: number
  windowMs: number
}

/**
 * Counts the management API's posts by who made them (the function whose key signed them), in buckets of
 * `bucketMs`, so that a benchmark or a test reads the rate the gateway really saw: the most in any second.
 * Buckets older than `keepMs` are dropped.
 */
export class PostMeter {
  private readonly buckets = new Map<string, Map<number, number>>()

  constructor(
    private readonly bucketMs = 50,
    private readonly keepMs = 15 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one post by `caller`, at `at` (epoch ms; now by default): when its request arrived. */
  record(caller: string, at = this.now()): void {
    const bucket = Math.floor(at / this.bucketMs)
    let counts = this.buckets.get(caller)
    if (counts === undefined) {
      counts = new Map()
      this.buckets.set(caller, counts)
    }
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
    const oldest = bucket - this.keepMs / this.bucketMs
    if (counts.size > this.keepMs / this.bucketMs) {
      for (const key of counts.keys()) if (key < oldest) counts.delete(key)
    }
  }

  /** Posts by `caller` (every caller when absent) since `since` (epoch ms), and their peak in `windowMs`. */
  rate(caller?: string, since = 0, windowMs = 1000): PostRate {
    const merged = new Map<number, number>()
    const first = Math.floor(since / this.bucketMs)
    for (const [name, counts] of this.buckets) {
      if (caller !== undefined && name !== caller) continue
      for (const [bucket, count] of counts)
        if (bucket >= first) merged.set(bucket, (merged.get(bucket) ?? 0) + count)
    }
    const span = Math.max(1, Math.round(windowMs / this.bucketMs))
    let posts = 0
    let peak = 0
    for (const [bucket, count] of merged) {
      posts += count
      let inWindow = 0
      for (let b = bucket; b < bucket + span; b++) inWindow += merged.get(b) ?? 0
      peak = Math.max(peak, inWindow)
    }
    return { posts, peak, windowMs: span * this.bucketMs }
  }
}
