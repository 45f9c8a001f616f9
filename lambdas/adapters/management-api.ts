import type { EventSender } from '../core/ports.js'
import { backoffMs } from '../core/post-pacing.js'
import { AwsRequestError, escapeUri, SignedHttp, type SignedHttpOptions } from './signed-http.js'

/**
 * How posts the management API throttled (429: the account's request rate, which callback posts share)
 * are sent again: jittered exponential backoff, capped, a bounded number of times.
 */
export interface ThrottleRetry {
  /** Attempts in all, the first included (8). */
  maxAttempts: number
  /** The backoff's base (100 ms) and cap (2 s): the account's bucket refills in about a second. */
  baseMs: number
  capMs: number
}

export const defaultThrottleRetry: ThrottleRetry = { maxAttempts: 8, baseMs: 100, capMs: 2000 }

/** Told of each post sent again after a 429, and of one that gave up (wiring counts and logs them). */
export interface ThrottleObserver {
  retried?(connectionId: string, attempt: number): void
  exhausted?(connectionId: string, attempts: number): void
}

export interface SignedPostSenderOptions extends Omit<SignedHttpOptions, 'service'> {
  /**
   * Retries 429s itself, past the SDK's three attempts: a fan-out of thousands meets the account's rate
   * where one post would not. Without it a 429 gets the SDK's standard retries only.
   */
  throttleRetry?: Partial<ThrottleRetry>
  onThrottled?: ThrottleObserver
}

/**
 * Posts events to connections through the API Gateway management API (POST @connections/{id}), signed
 * requests of its own (signed-http.ts): a fan-out's CPU is mostly posts, and the SDK client's stack cost
 * about four times the post itself. A 429 is a throttle, never a gone connection: only 410 is.
 */
export class SignedPostSender implements EventSender {
  private readonly http: SignedHttp
  private readonly throttleRetry: ThrottleRetry | undefined
  private readonly onThrottled: ThrottleObserver
  private readonly sleep: (ms: number) => Promise<void>

  /** `endpoint` is the callback URL with its stage: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}. */
  constructor(options: SignedPostSenderOptions) {
    const { throttleRetry, onThrottled, ...http } = options
    this.http = new SignedHttp({ ...http, service: 'execute-api' })
    this.throttleRetry = throttleRetry && { ...defaultThrottleRetry, ...throttleRetry }
    this.onThrottled = onThrottled ?? {}
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  async send(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    const retry = this.throttleRetry
    for (let attempt = 1; ; attempt++) {
      const status = await this.post(connectionId, data, retry ? [410, 429] : [410])
      if (status !== 429) return status === 410 ? 'gone' : 'sent'
      if (!retry || attempt >= retry.maxAttempts) {
        this.onThrottled.exhausted?.(connectionId, attempt)
        throw throttled(connectionId, attempt)
      }
      this.onThrottled.retried?.(connectionId, attempt)
      await this.sleep(throttleBackoffMs(retry, attempt))
    }
  }

  close(): void {
    this.http.close()
  }

  private post(connectionId: string, data: string, expected: readonly number[]): Promise<number> {
    // Encoded as the SDK encodes a path label: connection ids hold '=' (and could hold '/').
    return this.http.post(
      `PostToConnection ${connectionId}`,
      `/@connections/${escapeUri(connectionId)}`,
      Buffer.from(data, 'utf8'),
      { 'content-type': 'application/octet-stream' },
      expected,
    )
  }
}

/** Full jitter: random × min(cap, base × 2^(attempt − 1)). */
export function throttleBackoffMs(retry: ThrottleRetry, attempt: number, random = Math.random): number {
  return backoffMs(retry, attempt, random)
}

/** A post still throttled after its attempts: `throttled`, so that a fan-out worker waits it out (isThrottled). */
export class ThrottledPostError extends AwsRequestError {
  readonly throttled = true

  constructor(connectionId: string, attempts: number) {
    super(
      'LimitExceededException',
      429,
      attempts,
      `PostToConnection ${connectionId}: 429 LimitExceededException: still throttled after ${attempts} attempts`,
    )
  }
}

function throttled(connectionId: string, attempts: number): AwsRequestError {
  return new ThrottledPostError(connectionId, attempts)
}
