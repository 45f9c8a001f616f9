import { Duration } from 'aws-cdk-lib'
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  type Metric,
  Stats,
} from 'aws-cdk-lib/aws-cloudwatch'
import { Operation, type TableV2 } from 'aws-cdk-lib/aws-dynamodb'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import type { Construct } from 'constructs'
import { metricNames } from '../lambdas/adapters/metric-names.js'
import {
  every,
  graphPeriod,
  type HuddleMetrics,
  type MonitoredFunction,
  type MonitoredWorker,
} from './monitoring-metrics.js'

/** What the dashboard graphs, and the alarms whose status it shows first. */
export interface OperatorsDashboardProps {
  table: TableV2
  functions: MonitoredFunction[]
  workers: MonitoredWorker[]
  alarms: IAlarm[]
  metrics: HuddleMetrics
}

/** The operations lambdas/adapters/dynamo/ calls. */
const tableOperations = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.UPDATE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
]

/** One dashboard an operator reads top to bottom: alarms, chat traffic, failures, API, Lambda, workers, DynamoDB. */
export function operatorsDashboard(scope: Construct, id: string, props: OperatorsDashboardProps): Dashboard {
  const { table, functions, workers, alarms } = props
  const { huddle, gateway, internalErrorShare, deliveryFailureShare } = props.metrics
  const graph = (title: string, left: IMetric[], width = 8): GraphWidget =>
    new GraphWidget({ title, left, width, height: 6 })
  return new Dashboard(scope, id, {
    defaultInterval: Duration.hours(3),
    widgets: [
      [new AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 4 })],
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
        graph('Failure rates (%)', [internalErrorShare(graphPeriod), deliveryFailureShare(graphPeriod)], 12),
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
          labelled(functions, (fn) => fn.metricInvocations(every(graphPeriod))),
          6,
        ),
        graph(
          'Errors by route',
          labelled(functions, (fn) => fn.metricErrors(every(graphPeriod))),
          6,
        ),
        graph(
          'p99 duration by route (ms)',
          labelled(functions, (fn) => fn.metricDuration({ period: graphPeriod, statistic: Stats.p(99) })),
          6,
        ),
        graph(
          'Throttles by route',
          labelled(functions, (fn) => fn.metricThrottles(every(graphPeriod))),
          6,
        ),
      ],
      ...workers.map(({ label, function: fn, failures, queue }) => [
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
        queue
          ? graph(
              `${label} worker: oldest message in its queue (s)`,
              [
                queue.metricApproximateAgeOfOldestMessage({
                  period: graphPeriod,
                  statistic: Stats.MAXIMUM,
                  label: 'Oldest',
                }),
              ],
              6,
            )
          : graph(
              `${label} worker: event age (ms)`,
              [Stats.AVERAGE, Stats.MAXIMUM].map((statistic) =>
                fn.metric('AsyncEventAge', { period: graphPeriod, statistic, label: statistic }),
              ),
              6,
            ),
        graph(
          `${label} worker: dropped`,
          [
            ...(queue
              ? []
              : [
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
                ]),
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

function labelled(functions: MonitoredFunction[], metric: (fn: IFunction) => Metric): IMetric[] {
  return functions.map(({ label, function: fn }) => metric(fn).with({ label }))
}
