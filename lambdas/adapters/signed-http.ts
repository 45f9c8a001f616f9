import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { Sha256 } from '@smithy/core/checksum'
import { SignatureV4 } from '@smithy/signature-v4'
import type { AwsCredentialIdentityProvider, Provider } from '@smithy/types'

export interface SignedHttpOptions {
  /** The service's endpoint, with a base path if it has one (the management API's stage). */
  endpoint: string
  /** The signing name: execute-api, lambda. */
  service: string
  region: string | Provider<string>
  /** Credentials as the SDK's default chain gives them (it keeps them until they near expiry). */
  credentials: AwsCredentialIdentityProvider
  /** Connections kept open to the endpoint: about the fan-out's concurrency (Chat's default, 32). */
  maxSockets?: number
  /** Attempts per request, the first included: the SDK's default, 3. */
  maxAttempts?: number
  /** Waits `ms` before a retry (tests make it instant). */
  sleep?: (ms: number) => Promise<void>
}

/** A request an AWS API refused, or that could not be sent, after its retries. */
export class AwsRequestError extends Error {
  constructor(
    /** AWS's error type (`x-amzn-errortype`, e.g. ForbiddenException), or the network error's code. */
    readonly errorType: string,
    /** The HTTP status; undefined when no answer came (a network error). */
    readonly status: number | undefined,
    readonly attempts: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    // As the SDK names its errors, so that a log or a check by name reads the same.
    this.name = errorType
  }
}

/** What one attempt got back: a status and, on an error, AWS's error type, message and request id. */
interface Answer {
  status: number
  errorType?: string
  message?: string
  requestId?: string
}

/**
 * Signed POSTs to one AWS endpoint without the SDK client's per-call cost (a middleware stack rebuilt
 * for every call, a new signer, endpoint resolution, a clock-skew check, about fifteen promise hops):
 * the SDK's own signer (SignatureV4, one instance, its signing keys cached per day) over a keep-alive
 * agent. What the SDK client does is kept: its credentials and region, and its standard retries (3
 * attempts, jittered backoff, a retry quota).
 */
export class SignedHttp {
  private readonly signer: SignatureV4
  private readonly agent: HttpAgent
  private readonly request: typeof httpRequest
  private readonly protocol: string
  private readonly hostname: string
  private readonly port: number | undefined
  private readonly host: string
  private readonly basePath: string
  private readonly maxAttempts: number
  private readonly sleep: (ms: number) => Promise<void>
  private readonly quota = new RetryQuota()

  constructor(options: SignedHttpOptions) {
    const url = new URL(options.endpoint)
    const secure = url.protocol === 'https:'
    this.protocol = url.protocol
    this.hostname = url.hostname
    this.port = url.port ? Number(url.port) : undefined
    this.host = url.host
    this.basePath = url.pathname.replace(/\/+$/, '')
    const sockets = { keepAlive: true, maxSockets: options.maxSockets ?? 32 }
    this.agent = secure ? new HttpsAgent(sockets) : new HttpAgent(sockets)
    this.request = secure ? httpsRequest : httpRequest
    this.signer = new SignatureV4({
      service: options.service,
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
    })
    this.maxAttempts = options.maxAttempts ?? 3
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  /**
   * POSTs `body` to `path` (under the endpoint's base path) and answers the status when it is a 2xx or
   * one of `expected`; anything else throws an AwsRequestError, after the retries the SDK would make.
   * `operation` names the call in errors.
   */
  async post(
    operation: string,
    path: string,
    body: Buffer,
    headers: Record<string, string>,
    expected: readonly number[] = [],
  ): Promise<number> {
    const fullPath = this.basePath + path
    let retryCost: number | undefined
    for (let attempt = 1; ; attempt++) {
      let failure: AwsRequestError
      try {
        const answer = await this.attempt(fullPath, body, headers)
        if (answer.status >= 200 && answer.status < 300) {
          this.quota.succeeded(retryCost)
          return answer.status
        }
        if (expected.includes(answer.status)) return answer.status
        const errorType = answer.errorType ?? `Http${answer.status}Error`
        failure = new AwsRequestError(
          errorType,
          answer.status,
          attempt,
          `${operation}: ${answer.status} ${errorType}: ${answer.message ?? 'no message'}` +
            ` (attempt ${attempt}${answer.requestId ? `, request ${answer.requestId}` : ''})`,
        )
      } catch (error) {
        // A network error's code (ECONNRESET…), or what else stopped the request (credentials, say).
        const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.name : 'Error')
        failure = new AwsRequestError(
          code,
          undefined,
          attempt,
          `${operation}: ${error instanceof Error ? error.message : String(error)} (attempt ${attempt})`,
          { cause: error },
        )
      }
      const kind = retryKind(failure)
      if (kind === undefined || attempt >= this.maxAttempts) throw failure
      retryCost = this.quota.take(kind)
      if (retryCost === undefined) throw failure
      await this.sleep(backoffMs(kind, attempt))
    }
  }

  /** One signed POST; resolves with the answer's status (and error details), rejects on a network error. */
  private async attempt(path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.protocol,
      hostname: this.hostname,
      ...(this.port !== undefined && { port: this.port }),
      path,
      query: {},
      headers: { ...headers, host: this.host, 'content-length': String(body.length) },
      body,
    })
    return new Promise<Answer>((resolve, reject) => {
      const outgoing = this.request(
        {
          agent: this.agent,
          hostname: this.hostname,
          port: this.port,
          method: 'POST',
          path,
          headers: signed.headers,
        },
        (response) => {
          const status = response.statusCode ?? 0
          if (status >= 200 && status < 300) {
            // Done once the status is in; the body is drained so that the socket is reused.
            response.on('error', ignore).resume()
            resolve({ status })
          } else {
            readError(response, status).then(resolve, reject)
          }
        },
      )
      outgoing.on('error', reject)
      outgoing.end(body)
    })
  }

  /** Closes the kept-open connections (benchmarks, tests); a Lambda function never needs to. */
  close(): void {
    this.agent.destroy()
  }
}

function ignore(): void {}

/** AWS's error type (`x-amzn-errortype`, without its ":namespace" suffix), message and request id. */
async function readError(response: IncomingMessage, status: number): Promise<Answer> {
  const header = response.headers['x-amzn-errortype']
  const errorType = (Array.isArray(header) ? header[0] : header)?.split(':')[0] || undefined
  const requestId = response.headers['x-amzn-requestid']
  let text = ''
  for await (const chunk of response) {
    if (text.length < 4096) text += String(chunk)
  }
  let message: string | undefined
  try {
    const parsed = JSON.parse(text) as { message?: unknown; Message?: unknown }
    const found = parsed.message ?? parsed.Message
    message = typeof found === 'string' ? found : undefined
  } catch {
    message = text.slice(0, 200) || undefined
  }
  return {
    status,
    ...(errorType !== undefined && { errorType }),
    ...(message !== undefined && { message }),
    ...(typeof requestId === 'string' && { requestId }),
  }
}

// The SDK's standard retry mode (@smithy/core/retry), for what PostToConnection and Invoke can meet.
const throttlingTypes = new Set([
  'LimitExceededException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
])
const transientTypes = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException'])
const transientStatuses = new Set([500, 502, 503, 504])
const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

type RetryKind = 'throttling' | 'transient'

/** Whether the SDK would retry a failure, and as what; undefined for one it would not (4xx, 501…). */
export function retryKind(failure: AwsRequestError): RetryKind | undefined {
  if (failure.status === 429 || throttlingTypes.has(failure.errorType)) return 'throttling'
  if (failure.status === undefined) return transientCodes.has(failure.errorType) ? 'transient' : undefined
  if (transientStatuses.has(failure.status) || transientTypes.has(failure.errorType)) return 'transient'
  return undefined
}

/** The SDK's jittered exponential backoff: random × base × 2^(retries so far), capped at 20 s. */
export function backoffMs(kind: RetryKind, attempt: number, random = Math.random): number {
  const base = kind === 'throttling' ? 1000 : 50
  return Math.floor(random() * Math.min(base * 2 ** (attempt - 1), 20_000))
}

/**
 * The SDK's retry quota: retries spend tokens (14 each, 5 after throttling) and successes return them,
 * so that an endpoint that keeps failing is not sent three times the requests.
 */
export class RetryQuota {
  private capacity = 500

  /** The cost of one more retry, taken; undefined when the quota is spent. */
  take(kind: RetryKind): number | undefined {
    const cost = kind === 'throttling' ? 5 : 14
    if (this.capacity < cost) return undefined
    this.capacity -= cost
    return cost
  }

  /** A success returns its last retry's cost, or one token when it needed none. */
  succeeded(retryCost: number | undefined): void {
    this.capacity = Math.min(500, this.capacity + (retryCost ?? 1))
  }

  get available(): number {
    return this.capacity
  }
}
