import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AwsBehaviourCounters } from './aws-behaviours.js'
import type { ConcurrencyLimit, Invocation, LocalFunction } from './functions.js'
import { denialMessage, functionArn, type Grants } from './grants.js'
import { readBody, sendAwsError, sendJson } from './http.js'
import type { SignatureVerifier } from './sigv4.js'

/** Lambda's Invoke payload quotas (2025): 6 MB for a call answered at once, 1 MB for an event it queues. */
export const invokePayloadBytes = { RequestResponse: 6 * 1024 * 1024, Event: 1024 * 1024 } as const

/**
 * Lambda retries a failed event twice, about 1 and then 2 minutes later; the local stack waits 1 s and
 * 2 s by default, so that a retry is seen while one watches.
 */
export const defaultEventRetryDelaysMs: readonly number[] = [1000, 2000]

type InvocationType = 'RequestResponse' | 'Event' | 'DryRun'
const invocationTypes: readonly string[] = ['RequestResponse', 'Event', 'DryRun']

/** What became of one function's asynchronous invocations (InvocationType Event). */
export interface EventCounts {
  /** Events queued: each Event accepted, and each extra delivery of one (/dev/duplicate-invocations). */
  queued: number
  /** Runs of the function, retries included. */
  attempts: number
  /** Runs that threw, timed out or crashed (or were failed by /dev/fail-invocations). */
  failed: number
  /** Events given up after their last retry (Lambda would send them to the on-failure destination). */
  exhausted: number
}

export interface LambdaApiOptions {
  /** Every function, by its name. */
  functions: ReadonlyMap<string, LocalFunction<unknown, unknown>>
  grants: Grants
  /** Checks SigV4 for service `lambda`. */
  verifier: SignatureVerifier
  /** The waits before each retry of a failed event; its length is the number of retries. */
  eventRetryDelaysMs?: readonly number[]
  /** Lambda's concurrency quota, shared with the gateway's own invocations: none when absent. */
  concurrency?: ConcurrencyLimit
  /** Where throttled calls and held events are counted. */
  counters?: Pick<AwsBehaviourCounters, 'throttledInvocations' | 'delayedEvents'>
  log: (line: string) => void
}

/** The longest a throttled event waits before it tries for a slot again (Lambda backs off up to minutes). */
const throttledEventMaxWaitMs = 1000

/**
 * Lambda's Invoke API (POST /2015-03-31/functions/{FunctionName}/invocations) for the local functions,
 * as the fan-out worker is invoked in AWS: SigV4 (service `lambda`) and lambda:InvokeFunction checked
 * first; RequestResponse answers the handler's result (or its error, flagged Unhandled), DryRun only
 * checks, and Event answers 202 at once and runs the function in the background with Lambda's retries.
 * Past the concurrency limit a RequestResponse call is answered 429 TooManyRequestsException, and an event
 * stays queued until a slot frees (its retries are not spent on it), as Lambda does.
 * Events still running or waiting for a retry are tracked, so that close() leaves nothing behind.
 */
export class LocalLambdaApi {
  private readonly counts = new Map<string, EventCounts>()
  private readonly faults = new Map<string, number>()
  private readonly duplicates = new Map<string, number>()
  private readonly running = new Set<Promise<unknown>>()
  /** Cancels each retry's wait. */
  private readonly waits = new Set<() => void>()
  private readonly retryDelaysMs: readonly number[]
  private closing = false

  constructor(private readonly options: LambdaApiOptions) {
    this.retryDelaysMs = options.eventRetryDelaysMs ?? defaultEventRetryDelaysMs
  }

  /** Whether the API serves a function of this name (the dev hooks check before they arm a fault). */
  has(functionName: string): boolean {
    return this.options.functions.has(functionName)
  }

  /** Serves one Invoke call; `target` is the FunctionName from the path (a name, an ARN or a partial ARN). */
  async serve(request: IncomingMessage, response: ServerResponse, target: string): Promise<void> {
    const { grants, verifier, functions, log } = this.options
    const requestId = randomUUID()
    response.setHeader('x-amzn-requestid', requestId)
    const refuse = (status: number, type: string, message: string) => {
      log(`Lambda API: refused Invoke ${target}: ${type}: ${message}`)
      sendAwsError(response, status, type, message)
    }
    if (this.closing) return refuse(500, 'ServiceException', 'the local gateway is closing')

    const limit = invokePayloadBytes.RequestResponse
    const body = await readBody(request, limit).catch(() => undefined)
    if (body === undefined) {
      return refuse(
        413,
        'RequestEntityTooLargeException',
        `the payload is over ${limit} bytes, Invoke's limit`,
      )
    }
    const signed = await verifier.check({
      method: request.method ?? 'POST',
      url: request.url ?? '/',
      headers: request.headers,
      body,
    })
    if (!signed.ok) return refuse(403, `${signed.refusal}Exception`, signed.message)
    const principal = grants.principalOf(signed.accessKeyId)
    if (!principal) {
      return refuse(
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      )
    }
    const type = header(request, 'x-amz-invocation-type') ?? 'RequestResponse'
    if (!isInvocationType(type)) {
      return refuse(400, 'InvalidParameterValueException', `InvocationType must be one of ${invocationTypes}`)
    }
    const query = new URL(request.url ?? '/', 'http://lambda').searchParams.get('Qualifier')
    const { name, qualifier } = parseFunctionName(target, query)
    const denial = grants.invokeFunction(principal, name)
    if (denial) return refuse(403, 'AccessDeniedException', denialMessage(principal, denial))
    const fn = functions.get(name)
    if (!fn || (qualifier !== undefined && qualifier !== '$LATEST')) {
      const arn = functionArn(name) + (qualifier === undefined ? '' : `:${qualifier}`)
      return refuse(404, 'ResourceNotFoundException', `Function not found: ${arn}`)
    }
    if (type === 'DryRun') {
      response.writeHead(204).end()
      return
    }
    if (body.length > invokePayloadBytes[type]) {
      return refuse(
        413,
        'RequestEntityTooLargeException',
        `${body.length} byte payload is too large for the ${type} invocation type (limit ${invokePayloadBytes[type]} bytes)`,
      )
    }
    const event = parsePayload(body)
    if (!event.ok) {
      return refuse(
        400,
        'InvalidRequestContentException',
        `Could not parse request body into json: ${event.problem}`,
      )
    }
    if (type === 'Event') {
      this.queue(fn, event.value, requestId)
      response.writeHead(202).end()
      return
    }
    const release = this.slot()
    if (!release) {
      if (this.options.counters) this.options.counters.throttledInvocations++
      log(`Lambda API: throttled Invoke ${name}: the concurrency limit is reached`)
      response.setHeader('x-amzn-errortype', 'TooManyRequestsException')
      return sendJson(response, 429, {
        Reason: 'ConcurrentInvocationLimitExceeded',
        Type: 'User',
        message: 'Rate Exceeded.',
      })
    }
    const outcome = await this.track(this.attempt(fn, event.value, requestId)).finally(release)
    const headers = { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' }
    if (outcome.ok) {
      response.writeHead(200, headers).end(JSON.stringify(outcome.result ?? null))
    } else {
      response
        .writeHead(200, { ...headers, 'x-amz-function-error': 'Unhandled' })
        .end(JSON.stringify(functionError(outcome, requestId)))
    }
  }

  /**
   * Dev mode: the next `count` runs of the function (through this API, retries included) fail before its
   * handler starts, as on an instance that crashed; for tests that want to see Lambda's retries.
   */
  failNext(functionName: string, count: number): void {
    this.faults.set(functionName, (this.faults.get(functionName) ?? 0) + count)
  }

  /**
   * Dev mode: the next `count` events for the function are each delivered twice (two runs, each with its
   * own retries), as Lambda's at-least-once delivery occasionally does.
   */
  duplicateNext(functionName: string, count: number): void {
    this.duplicates.set(functionName, (this.duplicates.get(functionName) ?? 0) + count)
  }

  /**
   * Runs an event in the background after `delayMs`, with the same retries as an Event invocation: how the
   * local SQS queues trigger their workers. False when there is no such function.
   */
  queueAfter(functionName: string, event: unknown, delayMs: number, requestId: string): boolean {
    const fn = this.options.functions.get(functionName)
    if (!fn) return false
    void this.track(
      this.wait(delayMs).then((waited) => {
        if (waited) this.queue(fn, event, requestId)
        else
          this.options.log(
            `${functionName}: message ${requestId} dropped while delayed: the gateway is closing`,
          )
      }),
    )
    return true
  }

  /** What became of the function's events so far. */
  eventCounts(functionName: string): EventCounts {
    return { ...this.countsOf(functionName) }
  }

  /** Resolves once no invocation is running and no event waits for a retry. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }

  /** Takes no more calls, drops the retries still waiting (with a log line each), and waits for the runs. */
  async close(): Promise<void> {
    this.closing = true
    for (const cancel of [...this.waits]) cancel()
    await this.settled()
  }

  /** Runs an event in the background, twice when a duplicate was asked for. */
  private queue(fn: LocalFunction<unknown, unknown>, event: unknown, requestId: string): void {
    const name = fn.definition.name
    const copies = take(this.duplicates, name) ? 2 : 1
    for (let copy = 0; copy < copies; copy++) {
      this.countsOf(name).queued++
      void this.track(this.deliver(fn, event, requestId))
    }
  }

  /** Lambda's asynchronous delivery: a failed run is retried after each delay, then the event is dropped. */
  private async deliver(
    fn: LocalFunction<unknown, unknown>,
    event: unknown,
    requestId: string,
  ): Promise<void> {
    const { name } = fn.definition
    const counts = this.countsOf(name)
    for (let attempt = 1; ; attempt++) {
      const release = await this.queuedSlot(name, requestId)
      if (!release) {
        this.options.log(`${name}: event ${requestId} dropped while queued: the gateway is closing`)
        return
      }
      const outcome = await this.attempt(fn, event, requestId).finally(release)
      if (outcome.ok) return
      counts.failed++
      const why = `${outcome.reason}: ${outcome.message}`
      const delay = this.retryDelaysMs[attempt - 1]
      if (delay === undefined) {
        counts.exhausted++
        this.options.log(
          `${name}: event ${requestId} failed ${attempt} times (${why}); dropped, where Lambda would send it to the on-failure destination`,
        )
        return
      }
      this.options.log(`${name}: event ${requestId} failed (${why}); retry ${attempt} in ${delay} ms`)
      if (!(await this.wait(delay))) {
        this.options.log(`${name}: event ${requestId} dropped before its retry: the gateway is closing`)
        return
      }
    }
  }

  /** A slot of the concurrency limit, or undefined when every one is taken. */
  private slot(): (() => void) | undefined {
    return this.options.concurrency ? this.options.concurrency.tryAcquire() : () => {}
  }

  /**
   * A slot for a queued event: while every one is taken, the event waits (until one is released, or a
   * jittered backoff) and tries again, counted once; undefined when the API closes meanwhile.
   */
  private async queuedSlot(name: string, requestId: string): Promise<(() => void) | undefined> {
    const { concurrency, counters, log } = this.options
    for (let tries = 0; ; tries++) {
      const release = this.slot()
      if (release) return release
      if (tries === 0) {
        if (counters) counters.delayedEvents++
        log(`${name}: event ${requestId} throttled (the concurrency limit); it stays queued`)
      }
      const backoff = Math.min(throttledEventMaxWaitMs, 20 * 2 ** tries) * (0.5 + Math.random() / 2)
      const waited = await Promise.race([this.wait(backoff), concurrency?.freed(backoff).then(() => true)])
      if (!waited || this.closing) return undefined
    }
  }

  /** One run of the function, unless a dev fault fails it first. */
  private async attempt(
    fn: LocalFunction<unknown, unknown>,
    event: unknown,
    requestId: string,
  ): Promise<Invocation<unknown>> {
    const { name } = fn.definition
    this.countsOf(name).attempts++
    if (take(this.faults, name)) {
      return { ok: false, reason: 'crash', message: 'failed on purpose (/dev/fail-invocations)' }
    }
    return fn.invoke(event, requestId)
  }

  /** Resolves true after `ms`, or false at once when the API closes first. */
  private wait(ms: number): Promise<boolean> {
    if (this.closing) return Promise.resolve(false)
    return new Promise((resolve) => {
      const end = (waited: boolean) => {
        clearTimeout(timer)
        this.waits.delete(cancel)
        resolve(waited)
      }
      const cancel = () => end(false)
      const timer = setTimeout(() => end(true), ms)
      this.waits.add(cancel)
    })
  }

  private track<T>(running: Promise<T>): Promise<T> {
    this.running.add(running)
    const done = () => this.running.delete(running)
    running.then(done, done)
    return running
  }

  private countsOf(name: string): EventCounts {
    let counts = this.counts.get(name)
    if (!counts) {
      counts = { queued: 0, attempts: 0, failed: 0, exhausted: 0 }
      this.counts.set(name, counts)
    }
    return counts
  }
}

/** Takes one from a function's count; false when it has none left. */
function take(counts: Map<string, number>, name: string): boolean {
  const left = counts.get(name) ?? 0
  if (left <= 0) return false
  counts.set(name, left - 1)
  return true
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function isInvocationType(value: string): value is InvocationType {
  return invocationTypes.includes(value)
}

/**
 * The function a FunctionName names, and its qualifier: "name", "name:qualifier", the ARN
 * "arn:aws:lambda:{region}:{account}:function:name[:qualifier]", or the partial "{account}:function:name".
 */
export function parseFunctionName(
  target: string,
  queryQualifier?: string | null,
): { name: string; qualifier?: string } {
  const parts = target.split(':')
  const at = parts.indexOf('function')
  const [name = '', pathQualifier] = at >= 0 ? parts.slice(at + 1) : parts
  const qualifier = pathQualifier ?? queryQualifier ?? undefined
  return { name, ...(qualifier !== undefined && { qualifier }) }
}

/** The event: any JSON value (an empty payload gives the function an empty object, as Lambda does). */
function parsePayload(body: Buffer): { ok: true; value: unknown } | { ok: false; problem: string } {
  const text = body.toString('utf8')
  if (text.trim() === '') return { ok: true, value: {} }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, problem: error instanceof Error ? error.message : String(error) }
  }
}

/** The body Lambda answers a RequestResponse call whose function failed with. */
function functionError(
  outcome: Extract<Invocation<unknown>, { ok: false }>,
  requestId: string,
): { errorType: string; errorMessage: string; trace?: string[] } {
  switch (outcome.reason) {
    case 'error':
      return {
        errorType: outcome.name ?? 'Error',
        errorMessage: outcome.message,
        ...(outcome.stack && { trace: outcome.stack.split('\n') }),
      }
    case 'timeout':
      return {
        errorType: 'Sandbox.Timedout',
        errorMessage: `RequestId: ${requestId} Error: ${outcome.message}`,
      }
    default:
      return {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${requestId} Error: ${outcome.message}`,
      }
  }
}
