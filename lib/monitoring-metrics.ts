import { Duration } from 'aws-cdk-lib'
import { type IMetric, MathExpression, Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import type { IQueue } from 'aws-cdk-lib/aws-sqs'
import { metricNames, metricNamespace } from '../lambdas/adapters/metric-names.js'

/** A function to graph and alarm on, labelled by the route it serves. */
export interface MonitoredFunction {
  label: string
  function: IFunction
  /** False for the authorizer: throwing 'Unauthorized' is how it refuses a token, so its errors are not bugs. */
  alarmOnErrors?: boolean
}

/** A function the others invoke asynchronously (or send to through its queue), and the queue that keeps what
 * it never finished. */
export interface MonitoredWorker {
  label: string
  function: IFunction
  /** The on-failure destination, or the queue's dead-letter queue: each message is work (a fan-out slice, a
   * presence change) that never completed. */
  failures: IQueue
  /** The queue that triggers it, for a queued worker (its messages wait there, not in Lambda's queue). */
  queue?: IQueue
}

/** A queued worker's oldest message older than this is stuck: longer than SQS's longest delay (15 minutes)
 * and five minutes of retries. */
export const queueAgeAlarmSeconds = 20 * 60

/** The dashboard sums 5-minute periods; alarms look at 1-minute periods. */
export const graphPeriod = Duration.minutes(5)
export const alarmPeriod = Duration.minutes(1)

/** The period a metric is read over, as `Metric.with` and the function metrics take it. */
export const every = (period: Duration) => ({ period })

/** A metric of the handlers' own namespace, or of the stage's API, summed over the dashboard's period by default. */
export type NamedMetric = (metricName: string, statistic?: string, label?: string) => Metric

/** The metrics both the alarms and the dashboard read, so that each reads the same thing. */
export interface HuddleMetrics {
  /** The handlers' own metrics (lambdas/adapters/metric-names.ts). */
  huddle: NamedMetric
  /** API Gateway's metrics of the stage. */
  gateway: NamedMetric
  /** A share in percent; 0 (not "no data") when nothing happened that could have failed. */
  percent: (
    label: string,
    expression: string,
    usingMetrics: Record<string, IMetric>,
    period: Duration,
  ) => IMetric
  /** Requests answered INTERNAL, as a share of requests. */
  internalErrorShare: (period: Duration) => IMetric
  /** Posts to connections that failed, as a share of posts. */
  deliveryFailureShare: (period: Duration) => IMetric
}

/** The metrics of a stage's API (its id and stage name) and of the handlers. */
export function huddleMetrics(apiId: string, stageName: string): HuddleMetrics {
  const metricsIn =
    (namespace: string, dimensionsMap: Record<string, string>): NamedMetric =>
    (metricName, statistic = Stats.SUM, label) =>
      new Metric({
        namespace,
        metricName,
        dimensionsMap,
        statistic,
        period: graphPeriod,
        ...(label ? { label } : {}),
      })
  const huddle = metricsIn(metricNamespace, { service: 'huddle' })
  const gateway = metricsIn('AWS/ApiGateway', { ApiId: apiId, Stage: stageName })
  const percent: HuddleMetrics['percent'] = (label, expression, usingMetrics, period) =>
    new MathExpression({ label, expression, usingMetrics, period })
  return {
    huddle,
    gateway,
    percent,
    internalErrorShare: (period) =>
      percent(
        'INTERNAL replies (% of requests)',
        'IF(requests > 0, 100 * FILL(internal, 0) / requests, 0)',
        {
          internal: huddle(metricNames.internalErrors).with(every(period)),
          requests: huddle(metricNames.messagesIn).with(every(period)),
        },
        period,
      ),
    deliveryFailureShare: (period) =>
      percent(
        'Delivery failures (% of posts)',
        'IF(sent + failed > 0, 100 * failed / (sent + failed), 0)',
        {
          sent: huddle(metricNames.eventsDelivered).with(every(period)),
          failed: huddle(metricNames.deliveryFailures).with(every(period)),
        },
        period,
      ),
  }
}
