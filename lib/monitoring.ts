import { Duration } from 'aws-cdk-lib'
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
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import { Topic } from 'aws-cdk-lib/aws-sns'
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions'
import { Construct } from 'constructs'
import { metricNames, metricNamespace } from '../lambdas/adapters/metric-names.js'

/** A function to graph and alarm on, labelled by the route it serves. */
export interface MonitoredFunction {
  label: string
  function: IFunction
  /** False for the authorizer: throwing 'Unauthorized' is how it refuses a token, so its errors are not bugs. */
  alarmOnErrors?: boolean
}

/** What the dashboard and alarms watch. */
export interface HuddleMonitoringProps {
  apiId: string
  stageName: string
  table: TableV2
  functions: MonitoredFunction[]
  /** When set, alarms notify this address through an SNS topic. */
  alarmEmail?: string
}

const period = Duration.minutes(5)
const tableOperations = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.BATCH_WRITE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
]

/** One dashboard an operator reads top to bottom (alarms, chat traffic, API, Lambda, DynamoDB), plus the alarms. */
export class HuddleMonitoring extends Construct {
  readonly dashboard: Dashboard
  readonly alarms: Alarm[] = []

  constructor(scope: Construct, id: string, props: HuddleMonitoringProps) {
    super(scope, id)
    const metricsIn =
      (namespace: string, dimensionsMap: Record<string, string>) =>
      (metricName: string, statistic: string = Stats.SUM, label?: string): Metric =>
        new Metric({ namespace, metricName, dimensionsMap, statistic, period, ...(label ? { label } : {}) })
    const huddle = metricsIn(metricNamespace, { service: 'huddle' })
    const gateway = metricsIn('AWS/ApiGateway', { ApiId: props.apiId, Stage: props.stageName })
    const { table } = props

    const tableThrottles = new MathExpression({
      expression: 'FILL(reads, 0) + FILL(writes, 0)',
      usingMetrics: {
        reads: table.metric('ReadThrottleEvents', { statistic: Stats.SUM, period }),
        writes: table.metric('WriteThrottleEvents', { statistic: Stats.SUM, period }),
      },
      label: 'Read + write throttle events',
      period,
    })

    const alarm = (id: string, description: string, metric: IMetric): void => {
      this.alarms.push(
        new Alarm(this, id, {
          alarmDescription: description,
          metric,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      )
    }
    for (const { label, function: fn, alarmOnErrors = true } of props.functions) {
      const name = alarmId(label)
      if (alarmOnErrors) {
        alarm(`${name}Errors`, `${label}: invocations failed`, fn.metricErrors({ period }))
      }
      alarm(`${name}Throttles`, `${label}: Lambda throttled invocations`, fn.metricThrottles({ period }))
    }
    alarm(
      'ApiIntegrationErrors',
      'API Gateway got an error back from a route integration',
      gateway('IntegrationError'),
    )
    alarm('ApiExecutionErrors', 'API Gateway failed while calling an integration', gateway('ExecutionError'))
    alarm('TableThrottles', 'DynamoDB throttled reads or writes', tableThrottles)

    if (props.alarmEmail !== undefined) {
      const topic = new Topic(this, 'AlarmTopic', { displayName: 'Huddle alarms', enforceSSL: true })
      topic.addSubscription(new EmailSubscription(props.alarmEmail))
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
          ]),
          graph('Messages and delivery', [
            huddle(metricNames.messagesIn),
            huddle(metricNames.eventsDelivered),
            huddle(metricNames.deliveryFailures),
            huddle(metricNames.staleConnectionsPruned),
          ]),
          graph('Fan-out latency (ms)', [
            huddle(metricNames.fanOutLatency, Stats.p(50), 'p50'),
            huddle(metricNames.fanOutLatency, Stats.p(99), 'p99'),
          ]),
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
            labelled(props.functions, (fn) => fn.metricInvocations({ period })),
            6,
          ),
          graph(
            'Errors by route',
            labelled(props.functions, (fn) => fn.metricErrors({ period })),
            6,
          ),
          graph(
            'p99 duration by route (ms)',
            labelled(props.functions, (fn) => fn.metricDuration({ period, statistic: Stats.p(99) })),
            6,
          ),
          graph(
            'Throttles by route',
            labelled(props.functions, (fn) => fn.metricThrottles({ period })),
            6,
          ),
        ],
        [
          graph(
            'DynamoDB throttles',
            [
              table.metricThrottledRequestsForOperations({
                operations: tableOperations,
                period,
                label: 'Throttled requests',
              }),
              table.metric('ReadThrottleEvents', { statistic: Stats.SUM, period }),
              table.metric('WriteThrottleEvents', { statistic: Stats.SUM, period }),
            ],
            12,
          ),
          graph(
            'DynamoDB consumed capacity',
            [
              table.metricConsumedReadCapacityUnits({ period, label: 'RCU' }),
              table.metricConsumedWriteCapacityUnits({ period, label: 'WCU' }),
            ],
            12,
          ),
        ],
      ],
    })
  }
}

function labelled(functions: MonitoredFunction[], metric: (fn: IFunction) => Metric): IMetric[] {
  return functions.map(({ label, function: fn }) => metric(fn).with({ label }))
}

function alarmId(label: string): string {
  const name = label.replace(/^\$/, '').replace(/[^A-Za-z0-9]/g, '')
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`
}
