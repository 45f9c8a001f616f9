import { ArnFormat, NestedStack, Stack } from 'aws-cdk-lib'
import {
  Alarm,
  ComparisonOperator,
  type Dashboard,
  type IMetric,
  MathExpression,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb'
import * as iam from 'aws-cdk-lib/aws-iam'
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns'
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions'
import type { Construct } from 'constructs'
import { metricNames } from '../lambdas/adapters/metric-names.js'
import { operatorsDashboard } from './monitoring-dashboard.js'
import {
  alarmPeriod,
  every,
  huddleMetrics,
  type MonitoredFunction,
  type MonitoredWorker,
  queueAgeAlarmSeconds,
} from './monitoring-metrics.js'

export type { MonitoredFunction, MonitoredWorker } from './monitoring-metrics.js'

/** What the dashboard and alarms watch, and where alarms go. */
export interface HuddleMonitoringProps {
  apiId: string
  stageName: string
  table: TableV2
  functions: MonitoredFunction[]
  workers: MonitoredWorker[]
  /** Alarms notify this address through an SNS topic created here. */
  alarmEmail?: string
  /** Alarms notify this existing SNS topic. */
  alarmTopicArn?: string
}

/** Every alarm fires when 3 of the last 5 one-minute periods breach: a lasting problem, not one bad request. */
export const alarmWindow = { datapointsToAlarm: 3, evaluationPeriods: 5 } as const

/** Thresholds: shares in percent of the requests that could fail, counts where any at all is wrong. */
export const alarmThresholds = {
  /** A route function's invocations that failed (timeouts, crashes, a $connect or $disconnect that threw). */
  functionErrorPercent: 1,
  /** Requests answered INTERNAL: DynamoDB or S3 failing, or a bug. */
  internalErrorPercent: 1,
  /** Posts to connections that failed (not the 410s of stale connections, which are pruned). */
  deliveryFailurePercent: 5,
  /**
   * Lambda throttles, authorizer faults, API Gateway integration and execution errors, table throttles; a
   * worker's errors, dropped invocations, on-failure records and records Lambda could not send.
   */
  count: 1,
} as const

/**
 * The operators' alarms, where they notify, and their dashboard (monitoring-dashboard.ts): a nested stack of
 * its own, as two alarms a function would otherwise fill the main stack's 500 resources (each function,
 * queue and table it watches arrives as one parameter).
 */
export class HuddleMonitoring extends NestedStack {
  readonly dashboard: Dashboard
  readonly alarms: Alarm[] = []

  constructor(scope: Construct, id: string, props: HuddleMonitoringProps) {
    super(scope, id, { description: "Huddle: the operators' dashboard and alarms" })
    const metrics = huddleMetrics(props.apiId, props.stageName)
    const { huddle, gateway, percent, internalErrorShare, deliveryFailureShare } = metrics
    const { table } = props
    const tableThrottles = new MathExpression({
      expression: 'FILL(reads, 0) + FILL(writes, 0)',
      usingMetrics: {
        reads: table.metric('ReadThrottleEvents', { statistic: Stats.SUM, period: alarmPeriod }),
        writes: table.metric('WriteThrottleEvents', { statistic: Stats.SUM, period: alarmPeriod }),
      },
      label: 'Read + write throttle events',
      period: alarmPeriod,
    })

    const { datapointsToAlarm, evaluationPeriods } = alarmWindow
    const alarm = (id: string, description: string, metric: IMetric, threshold: number, unit = ''): void => {
      this.alarms.push(
        new Alarm(this, id, {
          alarmDescription: `${description} (${threshold}${unit} or more in ${datapointsToAlarm} of ${evaluationPeriods} minutes)`,
          metric,
          threshold,
          ...alarmWindow,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      )
    }
    for (const { label, function: fn, alarmOnErrors = true } of props.functions) {
      const name = alarmId(label)
      if (alarmOnErrors) {
        alarm(
          `${name}ErrorRate`,
          `${label}: invocations that failed`,
          percent(
            `${label} errors (% of invocations)`,
            'IF(invocations > 0, 100 * FILL(errors, 0) / invocations, 0)',
            {
              errors: fn.metricErrors(every(alarmPeriod)),
              invocations: fn.metricInvocations(every(alarmPeriod)),
            },
            alarmPeriod,
          ),
          alarmThresholds.functionErrorPercent,
          '%',
        )
      }
      // A count, not a share: Lambda records no invocations when it throttles them all.
      alarm(
        `${name}Throttles`,
        `${label}: Lambda throttled invocations`,
        fn.metricThrottles(every(alarmPeriod)),
        alarmThresholds.count,
      )
    }
    for (const { label, function: fn, failures, queue } of props.workers) {
      const name = `${alarmId(label)}Worker`
      // Counts, not shares: a worker fails only when it leaves its slice unfinished, which Lambda retries.
      alarm(
        `${name}Errors`,
        `${label} worker: invocations that failed or ran out of time (Lambda retries them twice)`,
        fn.metricErrors(every(alarmPeriod)),
        alarmThresholds.count,
      )
      alarm(
        `${name}Throttles`,
        `${label} worker: Lambda throttled invocations (they wait in Lambda's queue and grow older)`,
        fn.metricThrottles(every(alarmPeriod)),
        alarmThresholds.count,
      )
      if (queue) {
        // A queued worker's messages wait in its queue: one left there too long means the worker is not
        // taking them (its trigger disabled, its role broken).
        alarm(
          `${name}QueueAge`,
          `${label} worker: the oldest message in its queue is older than ${queueAgeAlarmSeconds / 60} minutes`,
          queue.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, period: alarmPeriod }),
          queueAgeAlarmSeconds,
          ' s',
        )
      } else {
        alarm(
          `${name}Dropped`,
          `${label} worker: invocations Lambda gave up on (retries spent or too old), so some recipients missed events live`,
          fn.metric('AsyncEventsDropped', { statistic: Stats.SUM, period: alarmPeriod }),
          alarmThresholds.count,
        )
        // Without this one, a slice whose record Lambda could not send would fail without a trace.
        alarm(
          `${name}DestinationFailures`,
          `${label} worker: on-failure records Lambda could not send to its failure queue, so those slices left no record`,
          fn.metric('DestinationDeliveryFailures', { statistic: Stats.SUM, period: alarmPeriod }),
          alarmThresholds.count,
        )
      }
      // The lasting signal: a record stays in the queue until an operator deletes it, even for one drop.
      alarm(
        `${name}FailureRecords`,
        `${label} worker: on-failure records wait in its failure queue (read them, then delete them)`,
        failures.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, period: alarmPeriod }),
        alarmThresholds.count,
      )
    }
    alarm(
      'InternalErrorRate',
      'Requests answered INTERNAL: DynamoDB or S3 failed, or a bug (the functions log "request failed")',
      internalErrorShare(alarmPeriod),
      alarmThresholds.internalErrorPercent,
      '%',
    )
    alarm(
      'DeliveryFailureRate',
      'Posts to connections that failed (the management API failing or throttling)',
      deliveryFailureShare(alarmPeriod),
      alarmThresholds.deliveryFailurePercent,
      '%',
    )
    alarm(
      'AuthorizerFaults',
      'The authorizer could not check tokens (JWKS unreachable, a bug): clients get 500 on connect',
      huddle(metricNames.authorizerFaults).with(every(alarmPeriod)),
      alarmThresholds.count,
    )
    alarm(
      'SecurityEvents',
      "Refused attempts on encrypted groups' keys, or commits members refused: see the SecurityEvents log lines",
      huddle(metricNames.securityEvents).with(every(alarmPeriod)),
      alarmThresholds.count,
    )
    alarm(
      'ApiIntegrationErrors',
      'API Gateway got an error back from a route integration',
      gateway('IntegrationError').with(every(alarmPeriod)),
      alarmThresholds.count,
    )
    alarm(
      'ApiExecutionErrors',
      'API Gateway failed while calling an integration',
      gateway('ExecutionError').with(every(alarmPeriod)),
      alarmThresholds.count,
    )
    alarm('TableThrottles', 'DynamoDB throttled reads or writes', tableThrottles, alarmThresholds.count)

    const topics: ITopic[] = []
    if (props.alarmEmail !== undefined) {
      const topic = new Topic(this, 'AlarmTopic', { displayName: 'Huddle alarms', enforceSSL: true })
      topic.addToResourcePolicy(cloudWatchMayPublish(this, topic))
      topic.addSubscription(new EmailSubscription(props.alarmEmail))
      topics.push(topic)
    }
    if (props.alarmTopicArn !== undefined) {
      topics.push(Topic.fromTopicArn(this, 'ExistingAlarmTopic', props.alarmTopicArn))
    }
    for (const topic of topics) {
      const action = new SnsAction(topic)
      for (const a of this.alarms) a.addAlarmAction(action)
    }

    this.dashboard = operatorsDashboard(this, 'Dashboard', {
      table,
      functions: props.functions,
      workers: props.workers,
      alarms: this.alarms,
      metrics,
    })
  }
}

/**
 * A topic with a policy (enforceSSL's Deny) has no default one, so CloudWatch needs its own Allow: for this
 * account's alarms in this region only.
 */
function cloudWatchMayPublish(scope: Construct, topic: ITopic): iam.PolicyStatement {
  const stack = Stack.of(scope)
  return new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['sns:Publish'],
    resources: [topic.topicArn],
    conditions: {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    },
  })
}

function alarmId(label: string): string {
  const name = label.replace(/^\$/, '').replace(/[^A-Za-z0-9]/g, '')
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`
}
