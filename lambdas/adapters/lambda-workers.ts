import type { FanOutSlice, FanOutWorkers, PurgeRun, PurgeWorkers } from '../core/ports.js'
import type { SignedHttp } from './signed-http.js'

/**
 * Hands fan-out slices to the worker function as asynchronous invocations (Lambda's Invoke API with
 * InvocationType Event): Lambda queues each at once and answers 202, runs the workers in parallel, and
 * retries a failed one twice. No queue to run or poll, and no scaling ramp: a slice starts within
 * milliseconds, up to the account's concurrency.
 */
export class LambdaFanOutWorkers implements FanOutWorkers {
  /** `http` is signed for service `lambda` at https://lambda.{region}.amazonaws.com. */
  constructor(
    private readonly http: SignedHttp,
    private readonly functionName: string,
  ) {}

  async dispatch(slice: FanOutSlice): Promise<void> {
    await this.http.post(
      `Invoke ${this.functionName}`,
      `/2015-03-31/functions/${encodeURIComponent(this.functionName)}/invocations`,
      Buffer.from(JSON.stringify(slice), 'utf8'),
      { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
    )
  }
}

/** Hands deleted groups' purges to the purge worker the same way: queued at once, retried twice on failure. */
export class LambdaPurgeWorkers implements PurgeWorkers {
  /** `http` is signed for service `lambda` at https://lambda.{region}.amazonaws.com. */
  constructor(
    private readonly http: SignedHttp,
    private readonly functionName: string,
  ) {}

  async dispatch(run: PurgeRun): Promise<void> {
    await this.http.post(
      `Invoke ${this.functionName}`,
      `/2015-03-31/functions/${encodeURIComponent(this.functionName)}/invocations`,
      Buffer.from(JSON.stringify(run), 'utf8'),
      { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
    )
  }
}
