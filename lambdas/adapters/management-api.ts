import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { Sha256 } from '@smithy/core/checksum'
import { extendedEncodeURIComponent } from '@smithy/core/protocols'
import { SignatureV4 } from '@smithy/signature-v4'
import type { AwsCredentialIdentityProvider, Provider } from '@smithy/types'
import type { EventSender } from '../core/ports.js'

export interface SignedPostOptions {
  /** The callback URL with its stage path: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}. */
  endpoint: string
  region: string | Provider<string>
  /** Credentials as the SDK's default chain gives them (it keeps them until they near expiry). */
  credentials: AwsCredentialIdentityProvider
  /** Connections kept open to the endpoint: about the fan-out's concurrency (Chat's default, 32). */
  maxSockets?: number
  /** Attempts per post, the first included: the SDK's default, 3. */
  maxAttempts?: number
  /** Waits `ms` before a retry (tests make it instant). */
  sleep?: (ms: number) => Promise<void>
}

/** A post the management API refused or that could not be sent, after its retries. */
export class PostToConnectionError extends Error {
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
 * Posts events to connections with signed HTTP requests of its own: the SDK's signer (SignatureV4, one
 * instance, its signing keys cached per day), a keep-alive agent and no middleware stack. What the SDK
 * client does for PostToConnection is kept: the same path encoding, credentials and region, 410 as
 * 'gone', and its standard retries (3 attempts, jittered backoff, a retry quota).
 */
export class SignedPostSender implements EventSender {
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

  constructor(options: SignedPostOptions) {
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
      service: 'execute-api',
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
    })
    this.maxAttempts = options.maxAttempts ?? 3
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  async send(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    const body = Buffer.from(data, 'utf8')
    // The SDK's own label encoding: connection ids hold '=' (and could hold '/').
    const path = `${this.basePath}/@connections/${extendedEncodeURIComponent(connectionId)}`
    let retryCost: number | undefined
    for (let attempt = 1; ; attempt++) {
      let failure: PostToConnectionError
      try {
        const answer = await this.post(path, body)
        if (answer.status >= 200 && answer.status < 300) {
          this.quota.succeeded(retryCost)
          return 'sent'
        }
        if (answer.status === 410) return 'gone'
        const errorType = answer.errorType ?? `Http${answer.status}Error`
        failure = new PostToConnectionError(
          errorType,
          answer.status,
          attempt,
          `PostToConnection ${connectionId}: ${answer.status} ${errorType}: ${answer.message ?? 'no message'}` +
            ` (attempt ${attempt}${answer.requestId ? `, request ${answer.requestId}` : ''})`,
        )
      } catch (error) {
        // A network error's code (ECONNRESET…), or what else stopped the post (credentials, say).
        const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.name : 'Error')
        failure = new PostToConnectionError(
          code,
          undefined,
          attempt,
          `PostToConnection ${connectionId}: ${error instanceof Error ? error.message : String(error)}` +
            ` (attempt ${attempt})`,
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
  private async post(path: string, body: Buffer): Promise<Answer> {
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.protocol,
      hostname: this.hostname,
      ...(this.port !== undefined && { port: this.port }),
      path,
      query: {},
      headers: {
        host: this.host,
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
      },
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
            // Delivered once the status is in; the (empty) body is drained so the socket is reused.
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

// The SDK's standard retry mode (@smithy/core/retry), for what PostToConnection can meet.
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
export function retryKind(failure: PostToConnectionError): RetryKind | undefined {
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
