import { ArnFormat, Duration, NestedStack, Stack } from 'aws-cdk-lib'
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import { Operation, type TableV2 } from 'aws-cdk-lib/aws-dynamodb'
import * as iam from 'aws-cdk-lib/aws-iam'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns'
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions'
import type { IQueue } from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import { metricNames, metricNamespace } from '../lambdas/adapters/metric-names.js'

/** A function to graph and alarm on, labelled by the route it serves. */
export interface MonitoredFunction {
  label: string
  function: IFunction
  /** False for the authorizer: throwing 'Unauthorized' is how it refuses a token, so its errors are not bugs. */
  alarmOnErrors?: boolean
}

/** A function the others invoke asynchronously, and the queue Lambda sends the invocations it gave up on. */
export interface MonitoredWorker {
  label: string
  function: IFunction
  /** The on-failure destination: each message is an invocation (a fan-out slice) that never completed. */
  failures: IQueue
}

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

/** The dashboard sums 5-minute periods; alarms look at 1-minute periods. */
const graphPeriod = Duration.minutes(5)
const alarmPeriod = Duration.minutes(1)

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

/** The operations lambdas/adapters/dynamo/ calls. */
const tableOperations = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.UPDATE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
]

/**
 * One dashboard an operator reads top to bottom (alarms, chat traffic, failures, API, Lambda, workers,
 * DynamoDB), plus the alarms: a nested stack of its own, as two alarms a function would otherwise fill the
 * main stack's 500 resources (each function, table and queue it watches arrives as one parameter).
 */
export class HuddleMonitoring extends NestedStack {
  readonly dashboard: Dashboard
  readonly alarms: Alarm[] = []

  constructor(scope: Construct, id: string, props: HuddleMonitoringProps) {
    super(scope, id, { description: "Huddle: the operators' dashboard and alarms" })
    const metricsIn =
      (namespace: string, dimensionsMap: Record<string, string>) =>
      (metricName: string, statistic: string = Stats.SUM, label?: string): Metric =>
        new Metric({
          namespace,
          metricName,
          dimensionsMap,
          statistic,
          period: graphPeriod,
          ...(label ? { label } : {}),
        })
    const huddle = metricsIn(metricNamespace, { service: 'huddle' })
    const gateway = metricsIn('AWS/ApiGateway', { ApiId: props.apiId, Stage: props.stageName })
    const { table } = props
    const every = (period: Duration) => ({ period })

    /** A share in percent; 0 (not "no data") when nothing happened that could have failed. */
    const percent = (
      label: string,
      expression: string,
      usingMetrics: Record<string, IMetric>,
      period: Duration,
    ) => new MathExpression({ label, expression, usingMetrics, period })
    const internalErrorShare = (period: Duration) =>
      percent(
        'INTERNAL replies (% of requests)',
        'IF(requests > 0, 100 * FILL(internal, 0) / requests, 0)',
        {
          internal: huddle(metricNames.internalErrors).with(every(period)),
          requests: huddle(metricNames.messagesIn).with(every(period)),
        },
        period,
      )
    const deliveryFailureShare = (period: Duration) =>
      percent(
        'Delivery failures (% of posts)',
        'IF(sent + failed > 0, 100 * failed / (sent + failed), 0)',
        {
          sent: huddle(metricNames.eventsDelivered).with(every(period)),
          failed: huddle(metricNames.deliveryFailures).with(every(period)),
        },
        period,
      )
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
    for (const { label, function: fn, failures } of props.workers) {
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

    const graph = (title: string, left: IMetric[], width = 8): GraphWidget =>
      new GraphWidget({ title, left, width, height: 6 })
    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 })],
        [
          graph('Connections', [
            huddle(metricNames.connectionsOpened),
            huddle(metricNames.connectionsClosed),
            huddle(metricNames.connectionsRefused),
          ]),
          graph('Messages and delivery', [
            huddle(metricNames.messagesIn),
            huddle(metricNames.eventsDelivered),
            huddle(metricNames.staleConnectionsPruned),
            huddle(metricNames.transactionConflicts),
          ]),
          graph('Fan-out latency (ms)', [
            huddle(metricNames.fanOutLatency, Stats.p(50), 'p50'),
            huddle(metricNames.fanOutLatency, Stats.p(99), 'p99'),
          ]),
        ],
        [
          graph(
            'Failures',
            [
              huddle(metricNames.internalErrors, Stats.SUM, 'INTERNAL replies'),
              huddle(metricNames.deliveryFailures, Stats.SUM, 'Delivery failures'),
              huddle(metricNames.authorizerFaults, Stats.SUM, 'Authorizer faults'),
            ],
            12,
          ),
          graph(
            'Failure rates (%)',
            [internalErrorShare(graphPeriod), deliveryFailureShare(graphPeriod)],
            12,
          ),
        ],
        [
          graph('API Gateway traffic', [gateway('ConnectCount'), gateway('MessageCount')]),
          graph('API Gateway errors', [
            gateway('IntegrationError'),
            gateway('ClientError'),
            gateway('ExecutionError'),
          ]),
          graph('API Gateway integration latency (ms)', [
            gateway('IntegrationLatency', Stats.p(50), 'p50'),
            gateway('IntegrationLatency', Stats.p(99), 'p99'),
          ]),
        ],
        [
          graph(
            'Invocations by route',
            labelled(props.functions, (fn) => fn.metricInvocations(every(graphPeriod))),
            6,
          ),
          graph(
            'Errors by route',
            labelled(props.functions, (fn) => fn.metricErrors(every(graphPeriod))),
            6,
          ),
          graph(
            'p99 duration by route (ms)',
            labelled(props.functions, (fn) =>
              fn.metricDuration({ period: graphPeriod, statistic: Stats.p(99) }),
            ),
            6,
          ),
          graph(
            'Throttles by route',
            labelled(props.functions, (fn) => fn.metricThrottles(every(graphPeriod))),
            6,
          ),
        ],
        ...props.workers.map(({ label, function: fn, failures }) => [
          graph(
            `${label} worker: invocations`,
            [
              fn.metricInvocations({ period: graphPeriod, label: 'Invocations' }),
              fn.metricErrors({ period: graphPeriod, label: 'Errors' }),
              fn.metricThrottles({ period: graphPeriod, label: 'Throttles' }),
            ],
            6,
          ),
          graph(
            `${label} worker: duration (ms)`,
            [Stats.p(50), Stats.p(99), Stats.MAXIMUM].map((statistic) =>
              fn.metricDuration({ period: graphPeriod, statistic, label: statistic }),
            ),
            6,
          ),
          graph(
            `${label} worker: event age (ms)`,
            [Stats.AVERAGE, Stats.MAXIMUM].map((statistic) =>
              fn.metric('AsyncEventAge', { period: graphPeriod, statistic, label: statistic }),
            ),
            6,
          ),
          graph(
            `${label} worker: dropped`,
            [
              fn.metric('AsyncEventsDropped', {
                period: graphPeriod,
                statistic: Stats.SUM,
                label: 'Dropped',
              }),
              fn.metric('DestinationDeliveryFailures', {
                period: graphPeriod,
                statistic: Stats.SUM,
                label: 'Records not sent to the queue',
              }),
              failures.metricApproximateNumberOfMessagesVisible({
                period: graphPeriod,
                statistic: Stats.MAXIMUM,
                label: 'Failure records in the queue',
              }),
            ],
            6,
          ),
        ]),
        [
          graph(
            'DynamoDB throttles',
            [
              table.metricThrottledRequestsForOperations({
                operations: tableOperations,
                period: graphPeriod,
                label: 'Throttled requests',
              }),
              table.metric('ReadThrottleEvents', { statistic: Stats.SUM, period: graphPeriod }),
              table.metric('WriteThrottleEvents', { statistic: Stats.SUM, period: graphPeriod }),
            ],
            12,
          ),
          graph(
            'DynamoDB consumed capacity',
            [
              table.metricConsumedReadCapacityUnits({ period: graphPeriod, label: 'RCU' }),
              table.metricConsumedWriteCapacityUnits({ period: graphPeriod, label: 'WCU' }),
            ],
            12,
          ),
        ],
      ],
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

function labelled(functions: MonitoredFunction[], metric: (fn: IFunction) => Metric): IMetric[] {
  return functions.map(({ label, function: fn }) => metric(fn).with({ label }))
}

function alarmId(label: string): string {
  const name = label.replace(/^\$/, '').replace(/[^A-Za-z0-9]/g, '')
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`
}
