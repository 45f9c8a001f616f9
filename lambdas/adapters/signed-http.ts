import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { type CredentialsProvider, escapeUri, type PresignOptions, SigV4Signer } from './sigv4.js'

export { escapeUri, type PresignOptions }

export interface SignedHttpOptions {
  /** The service's endpoint, with a base path if it has one (the management API's stage). */
  endpoint: string
  /** The signing name: execute-api, lambda, s3. */
  service: string
  /** Whether the signer encodes the path again (false for S3, whose paths are signed as sent). */
  uriEscapePath?: boolean
  region: string
  /** The credentials each request is signed with (this function's, from its environment). */
  credentials: CredentialsProvider
  /** Connections kept open to the endpoint: about the fan-out's concurrency (Chat's default, 32). */
  maxSockets?: number
  /** Attempts per request, the first included: the SDK's default, 3. */
  maxAttempts?: number
  /** The backoff's base before retrying a transient failure: the SDK's 50 ms (its DynamoDB client's, 25). */
  retryBaseMs?: number
  /** Waits `ms` before a retry (tests make it instant). */
  sleep?: (ms: number) => Promise<void>
}

/** A request an AWS API refused, or that could not be sent, after its retries. */
export class AwsRequestError extends Error {
  /** The JSON error document the API answered, whole (DynamoDB's may hold an item, or why a transaction failed). */
  readonly document: Record<string, unknown> | undefined

  constructor(
    /** AWS's error type (`x-amzn-errortype`, a JSON `__type`, e.g. ForbiddenException, or S3's `<Code>`), or the network error's code. */
    readonly errorType: string,
    /** The HTTP status; undefined when no answer came (a network error). */
    readonly status: number | undefined,
    readonly attempts: number,
    message: string,
    options?: ErrorOptions & { document?: Record<string, unknown> },
  ) {
    super(message, options)
    // As the SDK names its errors, so that a log or a check by name reads the same.
    this.name = errorType
    this.document = options?.document
  }
}

/** One request to the endpoint; `path` is under the endpoint's base path, URI-encoded as it is sent. */
export interface SignedRequest {
  method: string
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: Buffer
}

/** What a request got back: its status, headers and whole body, and how many attempts it took. */
export interface SignedAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  attempts: number
}

/**
 * Signed requests to one AWS endpoint without the SDK client's per-call cost (a middleware stack rebuilt
 * for every call, a new signer, endpoint resolution, a clock-skew check, about fifteen promise hops) or
 * its weight in a bundle: one SigV4 signer (sigv4.ts, its signing key kept for the day) over a keep-alive
 * agent. What the SDK client does is kept: its credentials and region, and its standard retries (3
 * attempts, jittered backoff, a retry quota). It presigns URLs with the same signer.
 */
export class SignedHttp {
  private readonly signer: SigV4Signer
  private readonly agent: HttpAgent
  private readonly request: typeof httpRequest
  private readonly protocol: string
  private readonly hostname: string
  private readonly port: number | undefined
  private readonly host: string
  private readonly basePath: string
  private readonly maxAttempts: number
  private readonly retryBaseMs: number | undefined
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
    this.signer = new SigV4Signer({
      service: options.service,
      ...(options.uriEscapePath !== undefined && { uriEscapePath: options.uriEscapePath }),
      region: options.region,
      credentials: options.credentials,
    })
    this.maxAttempts = options.maxAttempts ?? 3
    this.retryBaseMs = options.retryBaseMs
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
    return (await this.send(operation, { method: 'POST', path, headers, body }, expected)).status
  }

  /**
   * Sends a signed request and answers what came back when its status is a 2xx or one of `expected`;
   * anything else throws an AwsRequestError, after the retries the SDK would make.
   */
  async send(
    operation: string,
    request: SignedRequest,
    expected: readonly number[] = [],
  ): Promise<SignedAnswer> {
    let retryCost: number | undefined
    for (let attempt = 1; ; attempt++) {
      let failure: AwsRequestError
      try {
        const answer = { ...(await this.attempt(request)), attempts: attempt }
        if (answer.status >= 200 && answer.status < 300) {
          this.quota.succeeded(retryCost)
          return answer
        }
        if (expected.includes(answer.status)) return answer
        failure = errorOf(operation, answer)
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
      await this.sleep(backoffMs(kind, attempt, Math.random, this.retryBaseMs))
    }
  }

  /**
   * A URL that lets its holder make `request` until it expires: the signature and the `x-amz-` headers go
   * into the query (SigV4 query signing); the other headers are signed, so the holder must send them as given.
   */
  async presign(request: Omit<SignedRequest, 'body'>, options: PresignOptions): Promise<string> {
    const toSign = this.toSign(request, request.headers ?? {})
    const query = await this.signer.presign(toSign, options)
    return `${this.protocol}//${this.host}${toSign.path}${queryString(query)}`
  }

  /** `request` at this endpoint, as the signer takes it: under the base path, with its host header. */
  private toSign(request: Omit<SignedRequest, 'body'>, headers: Record<string, string>) {
    return {
      method: request.method,
      path: this.basePath + request.path,
      query: { ...request.query },
      headers: { ...headers, host: this.host },
    }
  }

  /** One signed request; resolves with what came back, rejects on a network error. */
  private async attempt(request: SignedRequest): Promise<Omit<SignedAnswer, 'attempts'>> {
    const body = request.body ?? Buffer.alloc(0)
    const bodiless = request.method === 'GET' || request.method === 'HEAD'
    const toSign = this.toSign(request, {
      ...request.headers,
      ...(!bodiless && { 'content-length': String(body.length) }),
    })
    const headers = await this.signer.sign({ ...toSign, body })
    const { path } = toSign
    return new Promise((resolve, reject) => {
      const outgoing = this.request(
        {
          agent: this.agent,
          hostname: this.hostname,
          port: this.port,
          method: request.method,
          path: path + queryString(request.query ?? {}),
          headers,
        },
        (response) => {
          // The body is read whole, also so that the socket is reused.
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('error', reject)
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
            }),
          )
        },
      )
      outgoing.on('error', reject)
      outgoing.end(bodiless ? undefined : body)
    })
  }

  /** Closes the kept-open connections (benchmarks, tests); a Lambda function never needs to. */
  close(): void {
    this.agent.destroy()
  }
}

/** "?k=v&…" with the keys sorted, as the SDK formats a URL; empty for no query. */
function queryString(query: Record<string, string>): string {
  const keys = Object.keys(query).sort()
  if (keys.length === 0) return ''
  return `?${keys.map((key) => `${escapeUri(key)}=${escapeUri(query[key] ?? '')}`).join('&')}`
}

/**
 * AWS's error type and message from an error document: JSON (`__type` or `code`, `message`), or S3's XML
 * (`<Error><Code>NoSuchKey</Code><Message>…`); undefined where the document does not say. A JSON
 * document comes back whole, as `json`.
 */
export function errorDocument(text: string): {
  code?: string
  message?: string
  json?: Record<string, unknown>
} {
  if (text.trimStart().startsWith('<')) {
    const code = text.match(/<Code>([^<]*)<\/Code>/)?.[1]
    const message = text.match(/<Message>([^<]*)<\/Message>/)?.[1]
    return { ...(code && { code }), ...(message !== undefined && { message: unescapeXml(message) }) }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return text ? { message: text.slice(0, 200) } : {}
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return {}
  const { __type: type, code, message, Message } = json as Record<string, unknown>
  const typed = typeof type === 'string' ? type : typeof code === 'string' ? code : undefined
  const found = message ?? Message
  return {
    ...(typed && { code: errorTypeOf(typed) }),
    ...(typeof found === 'string' && { message: found }),
    json: json as Record<string, unknown>,
  }
}

/**
 * An error type as the SDK reads it from a header or a document: without a namespace before `#`
 * ("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException") or a suffix after `:`.
 */
function errorTypeOf(raw: string): string {
  const [first = ''] = raw.split(',')
  const [named = ''] = first.split(':')
  return named.includes('#') ? (named.split('#')[1] ?? '') : named
}

function unescapeXml(text: string): string {
  return text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&')
}

/** The error an answer says: its type from `x-amzn-errortype` or the document (see errorTypeOf). */
function errorOf(operation: string, answer: SignedAnswer): AwsRequestError {
  const header = answer.headers['x-amzn-errortype']
  const headerType = Array.isArray(header) ? header[0] : header
  const document = errorDocument(answer.body.toString('utf8'))
  const errorType = (headerType && errorTypeOf(headerType)) || document.code || `Http${answer.status}Error`
  const requestId = answer.headers['x-amzn-requestid'] ?? answer.headers['x-amz-request-id']
  const { attempts } = answer
  return new AwsRequestError(
    errorType,
    answer.status,
    attempts,
    `${operation}: ${answer.status} ${errorType}: ${document.message ?? 'no message'}` +
      ` (attempt ${attempts}${typeof requestId === 'string' ? `, request ${requestId}` : ''})`,
    { ...(document.json && { document: document.json }) },
  )
}

// The SDK's standard retry mode (@smithy/core/retry's service error classification).
const throttlingTypes = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
])
const transientTypes = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  // DynamoDB's model marks it retryable.
  'ReplicatedWriteConflictException',
])
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

/**
 * The SDK's jittered exponential backoff: random × base × 2^(retries so far), capped at 20 s; the base is
 * 1 s after throttling, else `transientBaseMs`.
 */
export function backoffMs(
  kind: RetryKind,
  attempt: number,
  random = Math.random,
  transientBaseMs = 50,
): number {
  const base = kind === 'throttling' ? 1000 : transientBaseMs
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
