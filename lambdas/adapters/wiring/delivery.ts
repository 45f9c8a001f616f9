import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { Delivery } from '../../core/delivery.js'
import type { FanOutWorkers } from '../../core/ports.js'
import { DynamoFanOutSlices } from '../dynamo/fan-out-slices.js'
import { DynamoPostBudget } from '../dynamo/post-budget.js'
import { envNames } from '../env-names.js'
import { lazily, optionalEnv, requiredEnv } from '../environment.js'
import { LambdaFanOutWorkers } from '../lambda-workers.js'
import { SignedPostSender, type SignedPostSenderOptions } from '../management-api.js'
import { metricNames } from '../metric-names.js'
import { logger, metrics } from '../observability.js'
import { SignedHttp } from '../signed-http.js'
import { awsRegion, credentials } from './aws.js'
import { merged } from './merged.js'
import { connections, groups, settings, table } from './table.js'

function fanOutWorkers(functionName: string): FanOutWorkers {
  const region = awsRegion()
  const endpoint = optionalEnv(envNames.lambdaEndpoint) ?? `https://lambda.${region}.amazonaws.com`
  return new LambdaFanOutWorkers(
    new SignedHttp({ endpoint, service: 'lambda', region, credentials }),
    functionName,
  )
}

const fanOutFunction = optionalEnv(envNames.fanOutFunction)

/** A sender to this stage's connections, over as many kept-open sockets as the posts one function keeps in
 * flight, handling the account's 429s as `throttling` says. */
function postSender(throttling: Pick<SignedPostSenderOptions, 'throttleRetry' | 'onThrottled'>) {
  return new SignedPostSender({
    endpoint: requiredEnv(envNames.callbackUrl),
    region: awsRegion(),
    credentials,
    maxSockets: settings.fanOutConcurrency,
    ...throttling,
  })
}

/** Each post the account's rate refused (429), counted. */
const countThrottle = () => metrics.addMetric(metricNames.callbackThrottles, MetricUnit.Count, 1)

/** Posts events to connections through the management API, handing large fan-outs to the worker function. */
export const delivery = new Delivery({
  store: merged(connections, new DynamoFanOutSlices(table), groups),
  sender: lazily(() =>
    postSender({
      // The account's request rate covers callback posts: a large fan-out's 429s are waited out, counted.
      throttleRetry: {},
      onThrottled: {
        retried: countThrottle,
        exhausted: (connectionId, attempts) =>
          logger.warn('post still throttled after retries', { connectionId, attempts }),
      },
    }),
  ),
  // A worker's posts: paced within the workers' budget, and a 429 left to the worker, which waits it out
  // within its deadline (Delivery.postSlice).
  pacing: {
    budget: lazily(() => new DynamoPostBudget(table)),
    perSecond: settings.fanOutPostsPerSecond,
  },
  sliceSender: lazily(() =>
    postSender({ throttleRetry: { maxAttempts: 1 }, onThrottled: { exhausted: countThrottle } }),
  ),
  concurrency: settings.fanOutConcurrency,
  ...(fanOutFunction !== undefined && { workers: lazily(() => fanOutWorkers(fanOutFunction)) }),
  sliceSize: settings.fanOutSliceSize,
  newId: () => crypto.randomUUID(),
  onDelivery: (report) => {
    metrics.addMetric(metricNames.eventsDelivered, MetricUnit.Count, report.sent)
    metrics.addMetric(metricNames.staleConnectionsPruned, MetricUnit.Count, report.pruned)
    metrics.addMetric(metricNames.deliveryFailures, MetricUnit.Count, report.failed)
    metrics.addMetric(metricNames.fanOutLatency, MetricUnit.Milliseconds, report.millis)
    const level = report.failed > 0 ? 'warn' : 'debug'
    logger[level]('fan-out', { ...report })
  },
})
