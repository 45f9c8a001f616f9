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
