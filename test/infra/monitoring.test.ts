/** The operators' nested stack: its dashboard, its alarms and where they notify, and the outputs that lead to it. */
import { readFileSync } from 'node:fs'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { describe, expect, it } from 'vitest'
import { metricNames } from '../../lambdas/adapters/metric-names.js'
import { routes, workers } from '../../lambdas/routes.js'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'
import { alarmThresholds, alarmWindow } from '../../lib/monitoring.js'
import { cdkJson, context } from '../support/cdk-context.js'
import {
  type AlarmMetric,
  authorizerFunctionId,
  expressionOf,
  fanOutFunctionId,
  functionByRoute,
  ofType as mainOfType,
  metricsOf,
  type Resource,
  rendered,
  type Statement,
  stack,
  statementsIn,
  template,
} from '../support/stack-template.js'

const monitoring = Template.fromStack(stack.monitoring)
const monitoringResource = stack.monitoring.nestedStackResource
if (monitoringResource === undefined) throw new Error('the monitoring stack is not nested in the main one')
const monitoringId = stack.getLogicalId(monitoringResource)
/** What the main stack passes each of the nested stack's parameters: a function's name, a queue's, the API's id. */
const passed = (template.toJSON().Resources[monitoringId]?.Properties.Parameters ?? {}) as Record<
  string,
  unknown
>

/** A value of the nested template with each parameter replaced by what the main stack passes it. */
function inMainStackTerms(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inMainStackTerms)
  if (typeof value !== 'object' || value === null) return value
  const ref = (value as { Ref?: unknown }).Ref
  if (typeof ref === 'string' && ref in passed) return passed[ref]
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, inMainStackTerms(v)]))
}

// Read in the main stack's terms, a dimension names `{"Ref":"ConnectHandlerFunction…"}` as the functions do.
const resources = inMainStackTerms(monitoring.toJSON().Resources) as Record<string, Resource>
const ofType = (type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type)
const alarms: (Record<string, unknown> & { id: string })[] = ofType('AWS::CloudWatch::Alarm').map(
  ([id, alarm]) => ({ id, ...alarm.Properties }),
)
const alarmsReading = (metricName: string, dimension?: string) =>
  alarms.filter((alarm) =>
    metricsOf(alarm).some((m) => m.name === metricName && (!dimension || m.dimensions.includes(dimension))),
  )

/** The monitoring stack's template for another context (without bundling or cdk-nag). */
function monitoringFor(overrides: Record<string, unknown>): Template {
  const values = { ...context, ...overrides }
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } })
  const other = new HuddleStack(app, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
  return Template.fromStack(other.monitoring)
}

describe('monitoring', () => {
  const dashboardBody = JSON.stringify(ofType('AWS::CloudWatch::Dashboard')[0]?.[1].Properties.DashboardBody)

  it('is a nested stack of the main one, which keeps no alarm or dashboard of its own', () => {
    expect(mainOfType('AWS::CloudFormation::Stack').map(([id]) => id)).toEqual([monitoringId])
    for (const type of ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::Dashboard', 'AWS::SNS::Topic']) {
      template.resourceCountIs(type, 0)
    }
  })

  it('has a dashboard with the custom, API Gateway, Lambda and DynamoDB metrics', () => {
    for (const metric of [
      'FanOutLatency',
      metricNames.deliveryFailures,
      metricNames.internalErrors,
      metricNames.authorizerFaults,
      metricNames.connectionsRefused,
      'ConnectCount',
      'IntegrationError',
      'Throttles',
      'ReadThrottleEvents',
      'ConsumedWriteCapacityUnits',
    ]) {
      expect(dashboardBody, metric).toContain(metric)
    }
  })

  it('reads top to bottom: alarms, chat traffic, failures, API Gateway, Lambda, DynamoDB', () => {
    const titles = [...dashboardBody.matchAll(/\\"title\\":\\"([^\\]+)\\"/g)].map((match) => match[1])
    const firstOf = (title: string) => titles.indexOf(title)
    const order = [
      'Alarms',
      'Connections',
      'Failures',
      'API Gateway traffic',
      'Invocations by route',
      'DynamoDB throttles',
    ]
    for (const title of order) expect(firstOf(title), title).toBeGreaterThanOrEqual(0)
    expect(order.map(firstOf)).toEqual(order.map(firstOf).sort((a, b) => a - b))
  })

  it('alarms on lasting problems only: 3 of 5 one-minute periods, missing data not breaching', () => {
    expect(alarmWindow).toEqual({ datapointsToAlarm: 3, evaluationPeriods: 5 })
    expect(alarms.length).toBeGreaterThan(0)
    for (const alarm of alarms) {
      expect(alarm, alarm.id).toMatchObject({
        DatapointsToAlarm: 3,
        EvaluationPeriods: 5,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      })
      const periods = alarm.Period
        ? [alarm.Period]
        : (alarm.Metrics as AlarmMetric[]).flatMap((m) => (m.MetricStat ? [m.MetricStat.Period] : []))
      expect(periods.length, alarm.id).toBeGreaterThan(0)
      for (const period of periods) expect(period, alarm.id).toBe(60)
    }
  })

  it('alarms on each route function’s errors as a share of its invocations, and on every function’s throttles', () => {
    for (const route of routes) {
      const functionId = functionByRoute.get(route.routeKey) as string
      const [errorRate, ...others] = alarmsReading('Errors', `"${functionId}"`)
      expect(others, route.routeKey).toEqual([])
      expect(
        metricsOf(errorRate ?? {})
          .map((m) => m.name)
          .sort(),
        route.routeKey,
      ).toEqual(['Errors', 'Invocations'])
      expect(expressionOf(errorRate ?? {}), route.routeKey).toMatch(/100 \* FILL\(errors, 0\) \/ invocations/)
      expect(errorRate?.Threshold, route.routeKey).toBe(alarmThresholds.functionErrorPercent)
      expect(alarmsReading('Throttles', `"${functionId}"`), route.routeKey).toHaveLength(1)
    }
    // Refusing a token is an error by design: the authorizer's faults are alarmed on their own metric.
    expect(alarmsReading('Errors', `"${authorizerFunctionId}"`)).toEqual([])
    expect(alarmsReading('Throttles', `"${authorizerFunctionId}"`)).toHaveLength(1)
  })

  it('alarms on INTERNAL replies as a share of requests, on delivery failures and on authorizer faults', () => {
    const [internal, ...moreInternal] = alarmsReading(metricNames.internalErrors)
    expect(moreInternal).toEqual([])
    expect(metricsOf(internal ?? {})).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: metricNames.internalErrors, namespace: 'Huddle' }),
        expect.objectContaining({ name: metricNames.messagesIn, namespace: 'Huddle' }),
      ]),
    )
    expect(expressionOf(internal ?? {})).toMatch(/100 \* FILL\(internal, 0\) \/ requests/)
    expect(internal?.Threshold).toBe(alarmThresholds.internalErrorPercent)

    const [delivery, ...moreDelivery] = alarmsReading(metricNames.deliveryFailures)
    expect(moreDelivery).toEqual([])
    expect(
      metricsOf(delivery ?? {})
        .map((m) => m.name)
        .sort(),
    ).toEqual([metricNames.deliveryFailures, metricNames.eventsDelivered])
    expect(expressionOf(delivery ?? {})).toMatch(/100 \* failed \/ \(sent \+ failed\)/)
    expect(delivery?.Threshold).toBe(alarmThresholds.deliveryFailurePercent)

    const [faults, ...moreFaults] = alarmsReading(metricNames.authorizerFaults)
    expect(moreFaults).toEqual([])
    expect(faults).toMatchObject({ Namespace: 'Huddle', Statistic: 'Sum', Threshold: 1 })
    // Refusals are the clients' business: graphed, never alarmed.
    expect(alarmsReading(metricNames.connectionsRefused)).toEqual([])
  })

  it('alarms on API errors and table throttles, and notifies the alarm e-mail of every alarm', () => {
    expect(alarmsReading('IntegrationError')).toHaveLength(1)
    expect(alarmsReading('ExecutionError')).toHaveLength(1)
    expect(alarmsReading('ReadThrottleEvents')).toHaveLength(1)
    // Per route: error share; per function: throttles; per worker: errors, throttles, dropped, records not
    // sent, failure records; then INTERNAL, delivery, authorizer, security events, API ×2, table.
    // A worker invoked has five; a queued one four (its queue's age for Lambda's dropped events and records).
    const queued = workers.filter((w) => w.queued).length
    expect(alarms).toHaveLength(routes.length + (routes.length + 1) + 5 * workers.length - queued + 7)
    const topic = ofType('AWS::SNS::Topic').map(([id]) => id)
    expect(topic).toHaveLength(1)
    for (const alarm of alarms) expect(alarm.AlarmActions, alarm.id).toEqual([{ Ref: topic[0] }])
    monitoring.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    })
  })

  it('lets CloudWatch publish to the alarm topic, for this account’s alarms only, and nothing else without TLS', () => {
    const topicId = ofType('AWS::SNS::Topic')[0]?.[0] ?? 'no topic'
    const policies = ofType('AWS::SNS::TopicPolicy')
    expect(policies.map(([, policy]) => policy.Properties.Topics)).toEqual([[{ Ref: topicId }]])
    const statements = statementsIn(policies) as (Statement & { Principal?: unknown })[]
    const allowed = statements.filter((statement) => statement.Effect === 'Allow')
    // enforceSSL's policy replaces SNS's default one: without this Allow, no alarm reaches the topic.
    expect(allowed).toEqual([
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
      }),
    ])
    const condition = allowed[0]?.Condition as Record<string, Record<string, unknown>>
    expect(condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } })
    expect(rendered(condition.ArnLike?.['aws:SourceArn'])).toBe(
      'arn:AWS::Partition:cloudwatch:AWS::Region:AWS::AccountId:alarm:*',
    )
    expect(statements.filter((statement) => statement.Effect === 'Deny')).toEqual([
      expect.objectContaining({ Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ])
  })

  it('notifies an existing SNS topic when alarmTopicArn is given, and no one when opted out', () => {
    const arn = 'arn:aws:sns:eu-west-1:123456789012:ops-pager'
    const toTopic = monitoringFor({ alarmEmail: undefined, alarmTopicArn: arn })
    toTopic.resourceCountIs('AWS::SNS::Topic', 0)
    const topicAlarms = Object.values(toTopic.findResources('AWS::CloudWatch::Alarm'))
    expect(topicAlarms).toHaveLength(alarms.length)
    for (const alarm of topicAlarms) expect(alarm.Properties.AlarmActions).toEqual([arn])

    const both = Object.values(monitoringFor({ alarmTopicArn: arn }).findResources('AWS::CloudWatch::Alarm'))
    for (const alarm of both)
      expect(alarm.Properties.AlarmActions).toEqual([expect.objectContaining({}), arn])

    const silent = monitoringFor({ alarmEmail: undefined, alarmsWithoutNotification: 'true' })
    silent.resourceCountIs('AWS::SNS::Topic', 0)
    for (const alarm of Object.values(silent.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toBeUndefined()
    }
  })

  it('graphs every route function by name', () => {
    for (const route of routes) {
      const functionId = functionByRoute.get(route.routeKey)
      // Invocations, errors, p99 duration and throttles by route, each labelled with the route key.
      expect(dashboardBody.split(`{"Ref":"${functionId}"}`), route.routeKey).toHaveLength(5)
      expect(dashboardBody.split(`\\"label\\":\\"${route.routeKey}\\"`), route.routeKey).toHaveLength(5)
    }
  })

  it('alarms on the worker’s errors, throttles, dropped invocations and records Lambda could not send, and on records in its failure queue', () => {
    const worker = `"${fanOutFunctionId}"`
    for (const metric of ['Errors', 'Throttles', 'AsyncEventsDropped', 'DestinationDeliveryFailures']) {
      const found = alarmsReading(metric, worker)
      expect(found, metric).toHaveLength(1)
      // A count, not a share: any lasting failure of a slice is worth a look.
      expect(found[0], metric).toMatchObject({ Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1 })
    }
    const queueId = mainOfType('AWS::SQS::Queue')[0]?.[0] ?? 'no queue'
    const records = alarmsReading('ApproximateNumberOfMessagesVisible', `"${queueId}"`)
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 1 })
  })

  it('graphs the worker below the route functions: invocations, duration, event age, dropped', () => {
    for (const metric of [
      'AsyncEventAge',
      'AsyncEventsDropped',
      'DestinationDeliveryFailures',
      'ApproximateNumberOfMessagesVisible',
    ]) {
      expect(dashboardBody, metric).toContain(metric)
    }
    const titles = [...dashboardBody.matchAll(/\\"title\\":\\"([^\\]+)\\"/g)].map((match) => match[1])
    const order = [
      'Throttles by route',
      ...workers.flatMap(({ handler, queued }) =>
        [
          'invocations',
          'duration (ms)',
          queued ? 'oldest message in its queue (s)' : 'event age (ms)',
          'dropped',
        ].map((graph) => `${handler} worker: ${graph}`),
      ),
      'DynamoDB throttles',
    ]
    expect(order.map((title) => titles.indexOf(title))).toEqual(
      order.map((_, i) => titles.indexOf(order[0] as string) + i),
    )
  })

  it('has as many alarms, reading as many metrics, as docs/operations.md and docs/deployment.md say', () => {
    const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8')
    const figure = (text: string, pattern: RegExp) => Number(text.match(pattern)?.[1])
    const operations = doc('operations.md')
    expect(figure(operations, /There are (\d+) alarms\./)).toBe(alarms.length)
    expect(figure(operations, /share of its invocations: ≥ 1 % \((\d+) alarms\)/)).toBe(routes.length)
    expect(figure(operations, /the authorizer included: ≥ 1 \((\d+)\)/)).toBe(routes.length + 1)
    // CloudWatch bills a standard alarm $0.10 a month per metric it reads.
    const metrics = alarms.reduce((sum, alarm) => sum + metricsOf(alarm).length, 0)
    const costs = doc('deployment.md').match(/- (\d+) alarms reading (\d+) metrics .*: about \$(\d+\.\d\d)/)
    expect(costs?.slice(1).map(Number)).toEqual([alarms.length, metrics, Number((metrics * 0.1).toFixed(2))])
    // And $0.30 a month per custom metric the handlers publish (each under the one `service` dimension).
    const custom = Object.keys(metricNames).length
    const customCosts = doc('deployment.md').match(/- (\d+) custom metrics: about \$(\d+\.\d\d)/)
    expect(customCosts?.slice(1).map(Number)).toEqual([custom, Number((custom * 0.3).toFixed(2))])
  })

  it('outputs the URLs and names an operator needs', () => {
    for (const output of ['WebSocketUrl', 'CallbackUrl', 'DashboardUrl', 'TableName', 'BucketName']) {
      template.hasOutput(output, {})
    }
  })

  it('links the nested stack’s dashboard in the console of the stack’s partition', () => {
    const { Outputs, Conditions } = template.toJSON() as {
      Outputs: Record<string, { Value: unknown }>
      Conditions: Record<string, unknown>
    }
    // The output's value as CloudFormation renders it in `partition`, in region R.
    const evaluate = (value: unknown, partition: string): unknown => {
      if (typeof value !== 'object' || value === null) return value
      const [[name, args]] = Object.entries(value) as [[string, unknown]]
      const list = args as unknown[]
      const pseudo: Record<string, string> = { 'AWS::Partition': partition, 'AWS::Region': 'R' }
      if (name === 'Ref') return pseudo[args as string] ?? args
      if (name === 'Fn::Join')
        return (list[1] as unknown[]).map((v) => evaluate(v, partition)).join(list[0] as string)
      if (name === 'Fn::Equals') return evaluate(list[0], partition) === evaluate(list[1], partition)
      if (name === 'Fn::If') {
        const holds = evaluate(Conditions[list[0] as string], partition)
        return evaluate(holds ? list[1] : list[2], partition)
      }
      // The nested stack's output: its dashboard's name, shown here as the dashboard's logical id.
      if (name === 'Fn::GetAtt' && list[0] === monitoringId) {
        const output = String(list[1]).replace(/^Outputs\./, '')
        const nestedOutputs = monitoring.toJSON().Outputs as Record<string, { Value: unknown }>
        return evaluate(nestedOutputs[output]?.Value, partition)
      }
      return value
    }
    const hostIn = (partition: string) =>
      new URL(String(evaluate(Outputs.DashboardUrl?.Value, partition))).host
    expect(['aws', 'aws-cn', 'aws-us-gov', 'aws-iso'].map(hostIn)).toEqual([
      'console.aws.amazon.com',
      'console.amazonaws.cn',
      'console.amazonaws-us-gov.com',
      'console.aws.amazon.com',
    ])
    const dashboardId = ofType('AWS::CloudWatch::Dashboard')[0]?.[0] ?? 'no dashboard'
    expect(new URL(String(evaluate(Outputs.DashboardUrl?.Value, 'aws'))).hash).toBe(
      `#dashboards:name=${dashboardId}`,
    )
  })
})
