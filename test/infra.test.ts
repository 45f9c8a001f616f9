import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { App, Validations } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { Runtime } from 'aws-cdk-lib/aws-lambda'
import { AwsSolutionsChecks } from 'cdk-nag'
import { describe, expect, it } from 'vitest'
import { envNames } from '../lambdas/adapters/env-names.js'
import { metricNames } from '../lambdas/adapters/metric-names.js'
import { rateBuckets } from '../lambdas/core/rate-limits.js'
import { authorizer, bucketPrefixes, fanOutWorker, routes, workers } from '../lambdas/routes.js'
import { settings } from '../lambdas/settings.js'
import {
  ConfigError,
  maxFanOutSliceSize,
  placeholderJwt,
  readHuddleConfig,
  stageSettingKeys,
} from '../lib/config.js'
import { handlerBundling } from '../lib/handler-function.js'
import { HuddleStack } from '../lib/huddle-stack.js'
import { alarmThresholds, alarmWindow } from '../lib/monitoring.js'

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }
type AlarmMetric = {
  Id: string
  Expression?: string
  MetricStat?: {
    Metric: { MetricName: string; Namespace: string; Dimensions?: unknown }
    Period: number
  }
}

/** What a read-write table grant allows, sorted. */
const tableReadWrite = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
]
const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>
}
const context: Record<string, unknown> = {
  jwksUrl: 'https://login.example.com/.well-known/jwks.json',
  jwtIssuer: 'https://login.example.com/',
  jwtAudience: 'huddle-test',
  alarmEmail: 'ops@example.com',
  corsOrigins: 'https://app.example.com',
}
const { config } = readHuddleConfig((key) => context[key])

// One synthesis for the whole file: the production shape, cdk.json's feature flags, no bundling,
// cdk-nag registered the way bin/app.ts does, CDK's CloudFormation schema check (off in bin/app.ts for a
// fast synth) on, and every finding written to the validation report instead of thrown.
const app = new App({
  context: {
    ...cdkJson.context,
    'aws:cdk:bundling-stacks': [],
    '@aws-cdk/core:failSynthOnValidationErrors': false,
  },
})
const stack = new HuddleStack(app, 'Huddle', { config })
Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
const assembly = app.synth()
const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template)
const resources = template.toJSON().Resources as Record<string, Resource>

const resource = (logicalId: string): Resource => {
  const found = resources[logicalId]
  if (!found) throw new Error(`no resource ${logicalId}`)
  return found
}
const ofType = (type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type)
const logicalIdIn = (value: unknown): string => {
  const match = JSON.stringify(value).match(/"(?:Ref|Fn::GetAtt)":\s*\[?"([A-Za-z0-9]+)"/)
  if (!match?.[1]) throw new Error(`no reference in ${JSON.stringify(value)}`)
  return match[1]
}
const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value])

/** A CloudFormation value as text: `Bucket.Arn/uploads/*` for a Fn::Join of a GetAtt and a string. */
const rendered = (value: unknown): string => {
  if (typeof value === 'string') return value
  const intrinsic = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: string[]; Ref?: string }
  if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map(rendered).join(intrinsic['Fn::Join'][0])
  if (intrinsic['Fn::GetAtt']) return intrinsic['Fn::GetAtt'].join('.')
  if (intrinsic.Ref) return intrinsic.Ref
  return JSON.stringify(value)
}

/** Route key → the logical id of the Lambda function its integration invokes. */
const functionByRoute = new Map(
  ofType('AWS::ApiGatewayV2::Route').map(([, route]) => {
    const integration = resource(logicalIdIn(route.Properties.Target))
    return [route.Properties.RouteKey as string, logicalIdIn(integration.Properties.IntegrationUri)]
  }),
)
const authorizerFunctionId = logicalIdIn(
  ofType('AWS::ApiGatewayV2::Authorizer')[0]?.[1].Properties.AuthorizerUri ?? 'no authorizer',
)
/** The functions no route or authorizer invokes: the workers. */
const workerFunctionIds = ofType('AWS::Lambda::Function')
  .map(([id]) => id)
  .filter((id) => id !== authorizerFunctionId && ![...functionByRoute.values()].includes(id))
const fanOutFunctionId = workerFunctionIds[0] ?? 'no worker'

/** The function behind a route key, or the function with this logical id. */
const functionOf = (routeKey: string): Resource => resource(functionByRoute.get(routeKey) ?? routeKey)
const environmentOf = (fn: Resource): Record<string, unknown> =>
  (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables

const statementsIn = (policies: [string, Resource][]): Statement[] =>
  policies.flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
const allStatements = statementsIn(ofType('AWS::IAM::Policy'))

/** Every statement of the policies attached to the role of the function behind `routeKey`. */
const statementsOf = (routeKey: string): Statement[] => {
  const roleId = logicalIdIn(functionOf(routeKey).Properties.Role)
  return statementsIn(
    ofType('AWS::IAM::Policy').filter(([, policy]) =>
      (policy.Properties.Roles as unknown[]).some((r) => logicalIdIn(r) === roleId),
    ),
  )
}
/** Every IAM action granted to the role of the function behind `routeKey`. */
const actionsOf = (routeKey: string): string[] => statementsOf(routeKey).flatMap((s) => asArray(s.Action))

/** One action on one resource, whatever statements the policy minimizer merged it into. */
type Grant = { action: string; resource: string; condition?: unknown }
const grantsOf = (routeKey: string, service: string): Grant[] =>
  statementsOf(routeKey)
    .flatMap((statement) =>
      asArray(statement.Action).flatMap((action) =>
        asArray(statement.Resource).map((resource) => ({
          action,
          resource: rendered(resource),
          ...(statement.Condition ? { condition: statement.Condition } : {}),
        })),
      ),
    )
    .filter((grant) => grant.action.startsWith(`${service}:`))
const sortedGrants = (grants: Grant[]): Grant[] =>
  [...grants].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))

const bucketArn = `${ofType('AWS::S3::Bucket')[0]?.[0]}.Arn`
const tableArn = `${ofType('AWS::DynamoDB::GlobalTable')[0]?.[0]}.Arn`
const dynamoWriteActions =
  /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|ConditionCheckItem|PartiQL(Insert|Update|Delete))$/
const writingRoutes = routes.filter((route) => route.access.table === 'readWrite').map((r) => r.routeKey)

/** Synthesizes the stack (without bundling or cdk-nag) for another context and returns its template. */
const templateFor = (overrides: Record<string, unknown>): Template => {
  const values = { ...context, ...overrides }
  const otherApp = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } })
  const other = new HuddleStack(otherApp, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
  return Template.fromStack(other)
}

const alarms: (Record<string, unknown> & { id: string })[] = ofType('AWS::CloudWatch::Alarm').map(
  ([id, alarm]) => ({ id, ...alarm.Properties }),
)
/** The metrics an alarm reads: its own metric, or those its metric-math expression uses. */
const metricsOf = (
  alarm: Record<string, unknown>,
): { name: string; namespace: string; dimensions: string }[] =>
  alarm.MetricName
    ? [
        {
          name: alarm.MetricName as string,
          namespace: alarm.Namespace as string,
          dimensions: JSON.stringify(alarm.Dimensions),
        },
      ]
    : ((alarm.Metrics as AlarmMetric[] | undefined) ?? []).flatMap((m) =>
        m.MetricStat
          ? [
              {
                name: m.MetricStat.Metric.MetricName,
                namespace: m.MetricStat.Metric.Namespace,
                dimensions: JSON.stringify(m.MetricStat.Metric.Dimensions),
              },
            ]
          : [],
      )
const alarmsReading = (metricName: string, dimension?: string) =>
  alarms.filter((alarm) =>
    metricsOf(alarm).some((m) => m.name === metricName && (!dimension || m.dimensions.includes(dimension))),
  )
const expressionOf = (alarm: Record<string, unknown>): string | undefined =>
  (alarm.Metrics as AlarmMetric[] | undefined)?.find((m) => m.Expression)?.Expression

describe('WebSocket API', () => {
  it('is a WEBSOCKET API that routes on $request.body.action', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    })
  })

  it('has every route of the route table, each invoking its own function', () => {
    expect([...functionByRoute.keys()].sort()).toEqual(routes.map((route) => route.routeKey).sort())
    expect(new Set(functionByRoute.values()).size).toBe(routes.length)
    expect(new Set(ofType('AWS::ApiGatewayV2::Integration').map(([id]) => id)).size).toBe(routes.length)
  })

  it('answers the caller on two-way routes only', () => {
    for (const route of routes) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: route.routeKey,
        RouteResponseSelectionExpression: route.replies ? '$default' : Match.absent(),
      })
    }
  })

  it('authorizes $connect with the query-string token and no other route', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: [authorizer.identitySource],
    })
    for (const [, route] of ofType('AWS::ApiGatewayV2::Route')) {
      const connect = route.Properties.RouteKey === '$connect'
      expect(route.Properties.AuthorizationType, String(route.Properties.RouteKey)).toBe(
        connect ? 'CUSTOM' : 'NONE',
      )
    }
  })

  it('auto-deploys a throttled stage with JSON access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'prod',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: config.throttleRate,
        ThrottlingBurstLimit: config.throttleBurst,
      },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    })
  })
})

describe('functions', () => {
  it('all run the newest Node.js runtime aws-cdk-lib offers, on arm64', () => {
    const major = (runtime: Runtime) => Number(runtime.name.match(/^nodejs(\d+)\.x$/)?.[1] ?? 0)
    const newest = Math.max(...Runtime.ALL.map(major))
    expect(newest).toBeGreaterThanOrEqual(24)
    const functions = ofType('AWS::Lambda::Function')
    expect(functions).toHaveLength(routes.length + workers.length + 1)
    for (const [id, fn] of functions) {
      expect({ id, runtime: fn.Properties.Runtime, arch: fn.Properties.Architectures }).toEqual({
        id,
        runtime: `nodejs${newest}.x`,
        arch: ['arm64'],
      })
    }
    // esbuild compiles for the Node.js the functions run.
    expect(handlerBundling.target).toBe(`node${newest}`)
  })

  it('time out after the route table’s timeoutSeconds, the authorizer after its own', () => {
    expect(new Set(routes.map((route) => route.timeoutSeconds)).size).toBeGreaterThan(1)
    for (const route of routes) {
      expect(functionOf(route.routeKey).Properties.Timeout, route.routeKey).toBe(route.timeoutSeconds)
    }
    expect(resource(authorizerFunctionId).Properties.Timeout).toBe(authorizer.timeoutSeconds)
  })

  it('get exactly the environment their access needs', () => {
    for (const route of routes) {
      const variables = environmentOf(functionOf(route.routeKey))
      expect(variables).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'huddle',
        POWERTOOLS_METRICS_NAMESPACE: 'Huddle',
      })
      expect(Object.hasOwn(variables, envNames.tableName), route.routeKey).toBe(!!route.access.table)
      expect(Object.hasOwn(variables, envNames.bucketName), route.routeKey).toBe(!!route.access.bucket)
      expect(Object.hasOwn(variables, envNames.callbackUrl), route.routeKey).toBe(!!route.access.connections)
      for (const authorizerOnly of [settings.jwksUrl.variable, settings.identityClaim.variable]) {
        expect(Object.hasOwn(variables, authorizerOnly), route.routeKey).toBe(false)
      }
    }
    expect(environmentOf(resource(authorizerFunctionId))).toMatchObject({
      [settings.jwksUrl.variable]: context.jwksUrl,
      [settings.jwtIssuer.variable]: context.jwtIssuer,
      [settings.jwtAudience.variable]: context.jwtAudience,
      [settings.identityClaim.variable]: 'sub',
    })
  })

  it('tell the authorizer which claim names the user when one is configured', () => {
    const claim = 'https://example.com/huddle_id'
    const configured = templateFor({ identityClaim: claim })
    configured.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [settings.jwksUrl.variable]: context.jwksUrl,
          [settings.identityClaim.variable]: claim,
        }),
      },
    })
  })

  it('that write events get the message retention (365 days by default); the others do not', () => {
    expect(writingRoutes).toEqual(expect.arrayContaining(['message', 'join', 'leave', 'edit', 'delete']))
    for (const route of routes) {
      const variables = environmentOf(functionOf(route.routeKey))
      expect(variables[settings.messageRetentionDays.variable], route.routeKey).toBe(
        route.access.table === 'readWrite' ? '365' : undefined,
      )
    }
    const withRetention = ofType('AWS::Lambda::Function').filter(([, fn]) =>
      Object.hasOwn(environmentOf(fn), settings.messageRetentionDays.variable),
    )
    // The worker writes the table too (its slice records), so the same rule gives it the same settings.
    const writingWorkers = workers.filter((worker) => worker.access.table === 'readWrite')
    expect(withRetention).toHaveLength(writingRoutes.length + writingWorkers.length)
  })

  it('get the configured message retention, group size, groups an hour, pending invites and attachment limits when given', () => {
    // Each setting, its environment variable and the value given.
    const given = [
      ['messageRetentionDays', settings.messageRetentionDays.variable, '30'],
      ['maxGroupSize', settings.maxGroupSize.variable, '500'],
      ['groupsPerHour', settings.groupsPerHour.variable, '5'],
      ['pendingInvitesPerIdentity', settings.pendingInvitesPerIdentity.variable, '7'],
      ['attachmentBytes', settings.attachmentBytes.variable, '1000'],
      ['attachmentsPerMessage', settings.attachmentsPerMessage.variable, '3'],
    ] as const
    const configured = templateFor(
      Object.fromEntries(given.map(([setting, , value]) => [setting, value])),
    ).findResources('AWS::Lambda::Function')
    for (const route of routes) {
      const fn = configured[functionByRoute.get(route.routeKey) ?? route.routeKey] as Resource | undefined
      expect(fn, route.routeKey).toBeDefined()
      const writes = route.access.table === 'readWrite'
      for (const [setting, variable, value] of given) {
        expect(environmentOf(fn as Resource)[variable], `${route.routeKey} ${setting}`).toBe(
          writes ? value : undefined,
        )
      }
    }
  })

  it('that may write the table get the rate limits, the defaults or the configured ones', () => {
    const rates = [
      settings.messagesPerSecond.variable,
      settings.messageBurst.variable,
      settings.writesPerSecond.variable,
      settings.writeBurst.variable,
    ]
    const configured = templateFor({
      messagesPerSecond: '2.5',
      messageBurst: '10',
      writesPerSecond: '40',
      writeBurst: '100',
    }).findResources('AWS::Lambda::Function')
    for (const route of routes) {
      const writes = route.access.table === 'readWrite'
      const defaults = environmentOf(functionOf(route.routeKey))
      expect(
        rates.map((name) => defaults[name]),
        route.routeKey,
      ).toEqual(writes ? ['5', '20', '20', '60'] : [undefined, undefined, undefined, undefined])
      const fn = configured[functionByRoute.get(route.routeKey) ?? route.routeKey] as Resource
      expect(
        rates.map((name) => environmentOf(fn)[name]),
        route.routeKey,
      ).toEqual(writes ? ['2.5', '10', '40', '100'] : [undefined, undefined, undefined, undefined])
    }
    // Every limited action's function gets them, so every one takes its tokens.
    for (const action of Object.keys(rateBuckets)) expect(writingRoutes).toContain(action)
  })

  it('may touch only what their access entry names', () => {
    for (const route of routes) {
      const actions = actionsOf(route.routeKey)
      const { access } = route
      expect(
        actions.some((a) => a.startsWith('dynamodb:')),
        route.routeKey,
      ).toBe(!!access.table)
      expect(
        actions.some((a) => a.startsWith('s3:')),
        route.routeKey,
      ).toBe(!!access.bucket)
      expect(actions.includes('execute-api:ManageConnections'), route.routeKey).toBe(!!access.connections)
      expect(actions).not.toContain('dynamodb:Scan')
      if (access.table !== 'readWrite') {
        expect(
          actions.filter((a) => dynamoWriteActions.test(a)),
          route.routeKey,
        ).toEqual([])
      }
    }
  })

  it('read the table with the calls the store makes, and write it with the item actions its transactions need', () => {
    const read = ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query']
    const write = [
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]
    for (const route of routes.filter((r) => r.access.table)) {
      const grants = grantsOf(route.routeKey, 'dynamodb')
      const onTable = grants.filter((g) => g.resource === tableArn).map((g) => g.action)
      expect(onTable.sort(), route.routeKey).toEqual(
        route.access.table === 'readWrite' ? [...read, ...write].sort() : read,
      )
      // The user index is only queried.
      expect(
        grants.filter((g) => g.resource !== tableArn),
        route.routeKey,
      ).toEqual([{ action: 'dynamodb:Query', resource: `${tableArn}/index/GSI1` }])
    }
  })

  it('for history and receipts may only read the table (and history the avatars it links)', () => {
    for (const routeKey of ['history', 'receipts']) {
      const actions = actionsOf(routeKey)
      expect(
        actions.filter((a) => dynamoWriteActions.test(a)),
        routeKey,
      ).toEqual([])
      expect(
        actions.filter((a) => !/^(dynamodb|logs):/.test(a)),
        routeKey,
      ).toEqual(routeKey === 'history' ? ['s3:GetObject', 's3:ListBucket'] : [])
    }
  })

  it('reach the bucket only under the key prefixes their access entry names', () => {
    const withBucket = routes.filter((route) => route.access.bucket)
    expect(withBucket.map((route) => route.routeKey)).toEqual(
      expect.arrayContaining([
        'avatar',
        'invite',
        'update',
        'join',
        'history',
        'sync',
        'groups',
        'deleteGroup',
      ]),
    )
    for (const route of routes) {
      const { read = [], write = [], delete: deletes = [] } = route.access.bucket ?? {}
      const expected: Grant[] = [
        ...read.map((prefix) => ({ action: 's3:GetObject', resource: `${bucketArn}/${prefix}*` })),
        ...write.map((prefix) => ({ action: 's3:PutObject', resource: `${bucketArn}/${prefix}*` })),
        ...deletes.map((prefix) => ({ action: 's3:DeleteObject', resource: `${bucketArn}/${prefix}*` })),
        // Listing, for a 404 on a missing key, only under the prefixes it reads.
        ...(read.length > 0
          ? [
              {
                action: 's3:ListBucket',
                resource: bucketArn,
                condition: { StringLike: { 's3:prefix': read.map((prefix) => `${prefix}*`) } },
              },
            ]
          : []),
      ]
      expect(sortedGrants(grantsOf(route.routeKey, 's3')), route.routeKey).toEqual(sortedGrants(expected))
    }
    // The avatar route presigns uploads, and nothing else of the bucket.
    expect(grantsOf('avatar', 's3')).toEqual([
      { action: 's3:PutObject', resource: `${bucketArn}/${bucketPrefixes.uploads}*` },
    ])
  })

  it('delete objects only to delete a message or a group, never batch-write the table or grant an action no code calls', () => {
    const actions = new Set(allStatements.flatMap((s) => asArray(s.Action)))
    const deleting = routes.filter((route) => route.access.bucket?.delete).map((route) => route.routeKey)
    expect(deleting.sort()).toEqual(['delete', 'deleteGroup'])
    const deletes = (routeKey: string) =>
      grantsOf(routeKey, 's3').filter((g) => g.action === 's3:DeleteObject')
    expect(deletes('delete').map((g) => g.resource)).toEqual([`${bucketArn}/${bucketPrefixes.files}*`])
    expect(
      deletes('deleteGroup')
        .map((g) => g.resource)
        .sort(),
    ).toEqual(
      [
        `${bucketArn}/${bucketPrefixes.avatars}*`,
        `${bucketArn}/${bucketPrefixes.files}*`,
        `${bucketArn}/${bucketPrefixes.mls}*`,
      ].sort(),
    )
    for (const unused of ['dynamodb:BatchWriteItem', 'dynamodb:Scan', 's3:*', 'dynamodb:*']) {
      expect(actions.has(unused), unused).toBe(false)
    }
    const data = [...actions].filter((a) => /^(dynamodb|s3):/.test(a)).sort()
    expect(data).toEqual([
      ...tableReadWrite,
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ])
  })

  it('for edit, delete and receipt may write the table and post to connections, and in S3 only delete files', () => {
    for (const routeKey of ['edit', 'delete', 'receipt']) {
      const actions = actionsOf(routeKey)
      expect(actions, routeKey).toEqual(
        expect.arrayContaining(['dynamodb:Query', 'dynamodb:PutItem', 'execute-api:ManageConnections']),
      )
      expect(
        actions.filter((a) => a.startsWith('s3:')),
        routeKey,
      ).toEqual(routeKey === 'delete' ? ['s3:DeleteObject'] : [])
    }
  })

  it('each have their own role', () => {
    const roles = ofType('AWS::Lambda::Function').map(([, fn]) => logicalIdIn(fn.Properties.Role))
    expect(new Set(roles).size).toBe(routes.length + workers.length + 1)
  })

  it('never grant DynamoDB or S3 actions on every resource', () => {
    const dataStatements = allStatements.filter((s) =>
      asArray(s.Action).some((a) => /^(dynamodb|s3):/.test(a)),
    )
    expect(dataStatements.length).toBeGreaterThan(0)
    for (const statement of dataStatements) {
      expect(asArray(statement.Resource)).not.toContain('*')
      expect(asArray(statement.Resource).map(rendered)).not.toContain(`${bucketArn}/*`)
      expect(asArray(statement.Action).filter((a) => a.endsWith(':*'))).toEqual([])
    }
  })
})

describe('fan-out worker', () => {
  const failureQueueId = ofType('AWS::SQS::Queue')[0]?.[0] ?? 'no queue'
  const invokers = routes.filter((route) => route.access.invoke?.includes(fanOutWorker.handler))
  const others = routes.filter((route) => !invokers.includes(route))

  it('is one function per worker, with its timeout and the 1 GB of the functions that fan out', () => {
    expect(workerFunctionIds).toHaveLength(workers.length)
    expect(resource(fanOutFunctionId).Properties).toMatchObject({
      Timeout: fanOutWorker.timeoutSeconds,
      MemorySize: 1024,
    })
    expect(functionOf('message').Properties.MemorySize).toBe(1024)
  })

  it('may use the table, post to connections and record its failures, and nothing else', () => {
    const granted = (service: string) => sortedGrants(grantsOf(fanOutFunctionId, service))
    const onTable = granted('dynamodb').filter((g) => g.resource === tableArn)
    expect(onTable.map((g) => g.action).sort()).toEqual(tableReadWrite)
    expect(granted('execute-api')).toEqual([
      {
        action: 'execute-api:ManageConnections',
        resource: expect.stringMatching(/\/prod\/\*\/@connections\/\*$/),
      },
    ])
    // Lambda sends the on-failure record with the function's own role.
    expect(granted('sqs')).toEqual(
      ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'].map((action) => ({
        action,
        resource: `${failureQueueId}.Arn`,
      })),
    )
    const services = new Set(actionsOf(fanOutFunctionId).map((action) => action.split(':')[0]))
    expect([...services].sort()).toEqual(['dynamodb', 'execute-api', 'logs', 'sqs'])
  })

  it('may be invoked by the routes that fan out, and by no other function', () => {
    expect(invokers.map((route) => route.routeKey).sort()).toEqual(
      [
        'ban',
        'commit',
        'delete',
        'deleteGroup',
        'edit',
        'invite',
        'join',
        'leave',
        'message',
        'receipt',
        'refuse',
        'remove',
        'role',
        'unban',
        'update',
      ].sort(),
    )
    for (const route of invokers) {
      expect(grantsOf(route.routeKey, 'lambda'), route.routeKey).toEqual([
        { action: 'lambda:InvokeFunction', resource: `${fanOutFunctionId}.Arn` },
      ])
    }
    expect(others.map((route) => route.routeKey)).toEqual(
      expect.arrayContaining(['history', 'members', 'groups', 'sync', 'receipts']),
    )
    for (const route of others) expect(grantsOf(route.routeKey, 'lambda'), route.routeKey).toEqual([])
    expect(grantsOf(authorizerFunctionId, 'lambda')).toEqual([])
    expect(grantsOf(fanOutFunctionId, 'lambda')).toEqual([])
  })

  it('is named, with the slice size, to the functions that invoke it and to no others', () => {
    for (const route of routes) {
      const variables = environmentOf(functionOf(route.routeKey))
      const invokes = invokers.includes(route)
      expect(variables[envNames.fanOutFunction], route.routeKey).toEqual(
        invokes ? { Ref: fanOutFunctionId } : undefined,
      )
      expect(variables[settings.fanOutSliceSize.variable], route.routeKey).toBe(invokes ? '1000' : undefined)
    }
    const own = environmentOf(resource(fanOutFunctionId))
    expect(Object.keys(own)).toEqual(expect.arrayContaining([envNames.tableName, envNames.callbackUrl]))
    expect(own[envNames.fanOutFunction]).toBeUndefined()
    expect(own[envNames.bucketName]).toBeUndefined()
  })

  it('hands the configured slice size to the functions that invoke it', () => {
    const configured = templateFor({ fanOutSliceSize: '250' }).findResources('AWS::Lambda::Function')
    const sizes = Object.values(configured).flatMap((fn) => {
      const size = environmentOf(fn as Resource)[settings.fanOutSliceSize.variable]
      return size === undefined ? [] : [size]
    })
    expect(sizes).toEqual(invokers.map(() => '250'))
  })

  it('is retried twice for up to 15 minutes, then recorded in an encrypted, TLS-only queue kept 14 days', () => {
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', workers.length)
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fanOutFunctionId },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 15 * 60,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failureQueueId, 'Arn'] } } },
    })
    expect(resource(failureQueueId)).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 60 * 60 },
    })
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: failureQueueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    })
    template.hasOutput('FanoutFailuresQueueUrl', { Value: { Ref: failureQueueId } })
  })
})

describe('data stores', () => {
  it('keeps the table on demand, with PITR, TTL on `ttl`, GSI1 and deletion protection', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'PK', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'GSI1',
            KeySchema: [
              { AttributeName: 'GSI1PK', KeyType: 'HASH' },
              { AttributeName: 'GSI1SK', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          }),
        ],
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
      }),
    })
  })

  it('keeps the avatar bucket private, TLS-only, CORS-enabled for presigned uploads and retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        CorsConfiguration: {
          CorsRules: [
            Match.objectLike({
              AllowedMethods: ['PUT', 'GET'],
              AllowedOrigins: ['https://app.example.com'],
              AllowedHeaders: ['Content-Type', 'Content-Length'],
            }),
          ],
        },
      }),
    })
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    })
  })

  it('expires uploads after a day and files and commit parts with their events, keeps avatars, and aborts incomplete multipart uploads', () => {
    const bucket = resource(bucketArn.replace(/\.Arn$/, ''))
    const { Rules } = bucket.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }
    const expiring = Rules.filter((rule) => rule.ExpirationInDays !== undefined)
    expect(expiring).toEqual([
      expect.objectContaining({ Status: 'Enabled', Prefix: bucketPrefixes.uploads, ExpirationInDays: 1 }),
      // The ci stage keeps messages 365 days.
      expect.objectContaining({ Status: 'Enabled', Prefix: bucketPrefixes.files, ExpirationInDays: 366 }),
      // A commit's parts go with its event too.
      expect.objectContaining({ Status: 'Enabled', Prefix: bucketPrefixes.mls, ExpirationInDays: 366 }),
    ])
    expect(Rules).toContainEqual(
      expect.objectContaining({
        Status: 'Enabled',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      }),
    )
    expect(JSON.stringify(Rules)).not.toContain(bucketPrefixes.avatars)
  })
})

describe('monitoring', () => {
  const dashboardBody = JSON.stringify(ofType('AWS::CloudWatch::Dashboard')[0]?.[1].Properties.DashboardBody)

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
    // Per route: error share; per function: throttles; per worker: errors, throttles, dropped, failure
    // records; then INTERNAL, delivery, authorizer, security events, API ×2, table.
    expect(alarms).toHaveLength(routes.length + (routes.length + 1) + 4 * workers.length + 7)
    const topic = ofType('AWS::SNS::Topic').map(([id]) => id)
    expect(topic).toHaveLength(1)
    for (const alarm of alarms) expect(alarm.AlarmActions, alarm.id).toEqual([{ Ref: topic[0] }])
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    })
  })

  it('notifies an existing SNS topic when alarmTopicArn is given, and no one when opted out', () => {
    const arn = 'arn:aws:sns:eu-west-1:123456789012:ops-pager'
    const toTopic = templateFor({ alarmEmail: undefined, alarmTopicArn: arn })
    toTopic.resourceCountIs('AWS::SNS::Topic', 0)
    const topicAlarms = Object.values(toTopic.findResources('AWS::CloudWatch::Alarm'))
    expect(topicAlarms).toHaveLength(alarms.length)
    for (const alarm of topicAlarms) expect(alarm.Properties.AlarmActions).toEqual([arn])

    const both = Object.values(templateFor({ alarmTopicArn: arn }).findResources('AWS::CloudWatch::Alarm'))
    for (const alarm of both)
      expect(alarm.Properties.AlarmActions).toEqual([expect.objectContaining({}), arn])

    const silent = templateFor({ alarmEmail: undefined, alarmsWithoutNotification: 'true' })
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

  it('alarms on the worker’s errors, throttles and dropped invocations, and on records in its failure queue', () => {
    const worker = `"${fanOutFunctionId}"`
    for (const metric of ['Errors', 'Throttles', 'AsyncEventsDropped']) {
      const found = alarmsReading(metric, worker)
      expect(found, metric).toHaveLength(1)
      // A count, not a share: any lasting failure of a slice is worth a look.
      expect(found[0], metric).toMatchObject({ Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1 })
    }
    const queueId = ofType('AWS::SQS::Queue')[0]?.[0] ?? 'no queue'
    const records = alarmsReading('ApproximateNumberOfMessagesVisible', `"${queueId}"`)
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 1 })
  })

  it('graphs the worker below the route functions: invocations, duration, event age, dropped', () => {
    for (const metric of ['AsyncEventAge', 'AsyncEventsDropped', 'ApproximateNumberOfMessagesVisible']) {
      expect(dashboardBody, metric).toContain(metric)
    }
    const titles = [...dashboardBody.matchAll(/\\"title\\":\\"([^\\]+)\\"/g)].map((match) => match[1])
    const order = [
      'Throttles by route',
      'fanout worker: invocations',
      'fanout worker: duration (ms)',
      'fanout worker: event age (ms)',
      'fanout worker: dropped',
      'DynamoDB throttles',
    ]
    expect(order.map((title) => titles.indexOf(title))).toEqual(
      order.map((_, i) => titles.indexOf(order[0] as string) + i),
    )
  })

  it('outputs the URLs and names an operator needs', () => {
    for (const output of ['WebSocketUrl', 'CallbackUrl', 'DashboardUrl', 'TableName', 'BucketName']) {
      template.hasOutput(output, {})
    }
  })
})

describe('validation', () => {
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: {
      pluginName: string
      violations: { ruleName: string; severity: string; violatingConstructs?: { constructPath: string }[] }[]
    }[]
  }
  const findings = (pluginName: string): string[] =>
    report.pluginReports
      .filter((plugin) => plugin.pluginName === pluginName)
      .flatMap((plugin) => plugin.violations)
      .map((v) => `${v.severity} ${v.ruleName} at ${v.violatingConstructs?.[0]?.constructPath}`)

  it('cdk-nag AwsSolutions reports no unacknowledged error', () => {
    expect(findings('AwsSolutions').filter((finding) => finding.startsWith('error'))).toEqual([])
  })

  it('the CloudFormation schema check finds nothing', () => {
    expect(findings('CloudFormation Validate')).toEqual([])
  })

  it('cdk-nag acknowledgements cover only the reviewed rules, each with a reason', () => {
    const acknowledged = app.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
    for (const [, reason] of acknowledged) expect(reason.length).toBeGreaterThan(20)
    const rules = new Set(acknowledged.map(([id]) => id.replace(/^[A-Za-z]+::/, '').replace(/\[.*$/, '')))
    // No AwsSolutions-L1: the functions run the newest runtime.
    expect([...rules].sort()).toEqual([
      'AwsSolutions-APIG4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-S1',
      // The worker's failure queue is where failed slices end; it needs no dead-letter queue of its own.
      'AwsSolutions-SQS3',
    ])
  })
})

describe('configuration', () => {
  /** The problems `readHuddleConfig` reports for these context values (none when it accepts them). */
  const problemsFor = (values: Record<string, unknown>): string[] => {
    try {
      readHuddleConfig((key) => values[key])
      return []
    } catch (thrown) {
      expect(thrown).toBeInstanceOf(ConfigError)
      return (thrown as ConfigError).problems
    }
  }
  const configFor = (values: Record<string, unknown>) => readHuddleConfig((key) => values[key])

  it('refuses to synthesize without the JWT settings or an alarm destination, saying what to set', () => {
    const problems = problemsFor({})
    expect(problems).toEqual([
      expect.stringContaining('jwksUrl, jwtIssuer, jwtAudience are not set for stage prod'),
      expect.stringContaining('alarms would notify no one'),
    ])
    expect(problems[0]).toContain('stages.prod in cdk.json')
    expect(problems[0]).toContain('allowPlaceholderAuth=true')
    expect(problems[1]).toMatch(/alarmEmail .*alarmTopicArn .*alarmsWithoutNotification=true/)
  })

  it('lists which JWT settings are missing when only some are given, even with the placeholder opt-in', () => {
    for (const allowPlaceholderAuth of [undefined, 'true']) {
      expect(
        problemsFor({ ...context, jwtAudience: undefined, jwtIssuer: '', allowPlaceholderAuth }),
      ).toEqual([expect.stringContaining('jwtIssuer, jwtAudience are not set for stage prod')])
    }
    expect(problemsFor({ ...context, jwksUrl: undefined })).toEqual([
      expect.stringContaining('jwksUrl is not set for stage prod'),
    ])
  })

  it('uses placeholders, with a warning, only for a throwaway stack that opts in', () => {
    const { config: throwaway, warnings } = configFor({
      allowPlaceholderAuth: 'true',
      removalPolicy: 'destroy',
    })
    expect(throwaway).toMatchObject({ ...placeholderJwt, stageName: 'prod', removalPolicy: 'destroy' })
    expect(throwaway.corsOrigins).toEqual(['*'])
    expect(throwaway.messageRetentionDays).toBe(365)
    expect(throwaway.identityClaim).toBe('sub')
    expect(warnings).toEqual([expect.stringContaining('every token is refused')])
    // The opt-in is about tokens only: a stage that keeps its data still needs an alarm destination.
    expect(problemsFor({ allowPlaceholderAuth: true })).toEqual([
      expect.stringContaining('alarms would notify no one'),
    ])
  })

  it('needs an alarm destination only for a stage that keeps its data', () => {
    const jwt = { jwksUrl: context.jwksUrl, jwtIssuer: context.jwtIssuer, jwtAudience: context.jwtAudience }
    expect(problemsFor({ ...jwt, removalPolicy: 'retain' })).toEqual([
      expect.stringContaining('stage prod keeps its data (removalPolicy retain)'),
    ])
    expect(problemsFor({ ...jwt, removalPolicy: 'destroy' })).toEqual([])
    expect(problemsFor({ ...jwt, alarmsWithoutNotification: 'true' })).toEqual([])
    expect(
      configFor({ ...jwt, alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:huddle-alarms' }).config,
    ).toMatchObject({ alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:huddle-alarms' })
    expect(problemsFor({ ...jwt, alarmEmail: 'ops@example.com', alarmsWithoutNotification: true })).toEqual([
      expect.stringContaining('alarmsWithoutNotification=true contradicts'),
    ])
  })

  it.each([
    'arn:aws:sqs:us-east-1:123456789012:queue',
    'arn:aws:sns:us-east-1:1234:topic',
    'huddle-alarms',
    'arn:aws:sns:us-east-1:123456789012:bad name',
  ])('refuses alarmTopicArn %j', (arn) => {
    expect(problemsFor({ ...context, alarmTopicArn: arn })).toEqual([
      expect.stringContaining('alarmTopicArn must be an SNS topic ARN'),
    ])
  })

  it('takes the identity claim from context, namespaced names included, and refuses claims that name no user', () => {
    expect(configFor(context).config.identityClaim).toBe('sub')
    for (const claim of ['oid', 'preferred_username', 'https://example.com/huddle_id', 'custom:huddle_id']) {
      expect(configFor({ ...context, identityClaim: claim }).config.identityClaim).toBe(claim)
    }
    expect(problemsFor({ ...context, identityClaim: 'aud' })).toEqual([
      expect.stringContaining('identityClaim cannot be aud'),
    ])
    expect(problemsFor({ ...context, identityClaim: 'user id' })).toEqual([
      expect.stringContaining('identityClaim must be a claim name'),
    ])
  })

  it('takes the rate limits from context: positive rates, whole bursts', () => {
    expect(configFor(context).config).toMatchObject({
      messagesPerSecond: 5,
      messageBurst: 20,
      writesPerSecond: 20,
      writeBurst: 60,
    })
    expect(
      configFor({ ...context, messagesPerSecond: '0.5', messageBurst: 3, writesPerSecond: 100 }).config,
    ).toMatchObject({ messagesPerSecond: 0.5, messageBurst: 3, writesPerSecond: 100, writeBurst: 60 })
    expect(
      problemsFor({ ...context, messagesPerSecond: '0', messageBurst: '2.5', writesPerSecond: 'fast' }),
    ).toEqual([
      'messagesPerSecond must be a positive number, got "0"',
      'messageBurst must be a positive integer, got "2.5"',
      'writesPerSecond must be a positive number, got "fast"',
    ])
    expect(problemsFor({ ...context, writeBurst: -1 })).toEqual([
      'writeBurst must be a positive integer, got -1',
    ])
  })

  describe('stages', () => {
    const stages = {
      prod: { ...context, alarmEmail: 'prod-ops@example.com', throttleRate: 800 },
      dev: { ...context, alarmEmail: undefined, removalPolicy: 'destroy', identityClaim: 'oid' },
    }

    it('deploy prod from its cdk.json entry when no stage is named', () => {
      const { config: prod } = configFor({ stages })
      expect(prod).toMatchObject({ stageName: 'prod', alarmEmail: 'prod-ops@example.com', throttleRate: 800 })
      expect(prod.jwksUrl).toBe(context.jwksUrl)
    })

    it('are selected with -c stage=<name>, which also names the API stage and the stack', () => {
      const { config: dev } = configFor({ stages, stage: 'dev' })
      expect(dev).toMatchObject({
        stageName: 'dev',
        removalPolicy: 'destroy',
        identityClaim: 'oid',
        throttleRate: 500,
      })
      expect(dev.alarmEmail).toBeUndefined()
      templateFor({
        stages,
        stage: 'dev',
        ...Object.fromEntries(Object.keys(context).map((k) => [k, undefined])),
      }).hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'dev' })
    })

    it('let -c key=value win over the stage’s entry', () => {
      expect(
        configFor({ stages, stage: 'prod', throttleRate: '50', alarmEmail: 'me@example.com' }).config,
      ).toMatchObject({
        throttleRate: 50,
        alarmEmail: 'me@example.com',
      })
    })

    it('refuse an unknown stage, naming the known ones', () => {
      // Only that: every other message would be about settings nobody meant to deploy.
      expect(problemsFor({ stages, stage: 'prdo' })).toEqual([
        "unknown stage prdo: cdk.json's stages are prod, dev",
      ])
      // Without a stages entry in cdk.json at all, a stage is whatever -c gives.
      expect(configFor({ ...context, stage: 'qa' }).config.stageName).toBe('qa')
    })

    it('refuse unknown keys in any stage, and a stages value that is not an object', () => {
      const typo = {
        ...stages,
        staging: { jwksURL: 'https://x.example.com/jwks', alarmEmail: 'a@example.com' },
      }
      expect(problemsFor({ stages: typo })).toEqual([
        expect.stringContaining('stages.staging has unknown key jwksURL; a stage may set jwksUrl, jwtIssuer'),
      ])
      expect(problemsFor({ ...context, stages: '{"prod":{}}' })).toEqual([
        expect.stringContaining('stages must be an object'),
      ])
      expect(problemsFor({ stages: { prod: 'https://x.example.com' } })).toEqual(
        expect.arrayContaining([expect.stringContaining('stages.prod must be an object of settings')]),
      )
      expect(stageSettingKeys).not.toContain('stage')
    })

    it('refuse the old stageName key rather than deploy prod by mistake', () => {
      expect(problemsFor({ ...context, stageName: 'dev' })).toEqual([
        expect.stringContaining('stageName is replaced by stage: pass -c stage=<name>'),
      ])
    })

    it('in cdk.json: ci synthesizes offline with placeholders; prod says what it still needs', () => {
      const fromCdkJson = (values: Record<string, unknown>) => (key: string) =>
        values[key] ?? cdkJson.context[key]
      const ci = readHuddleConfig(fromCdkJson({ stage: 'ci' }))
      expect(ci.config).toMatchObject({ ...placeholderJwt, stageName: 'ci', removalPolicy: 'destroy' })
      expect(ci.warnings).toHaveLength(1)
      expect(() => readHuddleConfig(fromCdkJson({}))).toThrow(
        /jwksUrl, jwtIssuer, jwtAudience are not set for stage prod/,
      )
    })
  })

  it('bin/app.ts fails the synth, listing what is missing, when prod has no settings', () => {
    const result = spawnSync(
      fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url)),
      ['bin/app.ts'],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        env: {
          ...process.env,
          CDK_CONTEXT_JSON: JSON.stringify(cdkJson.context),
          CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'huddle-synth-')),
        },
        timeout: 60_000,
      },
    )
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('Invalid Huddle configuration')
    expect(result.stderr).toContain('jwksUrl, jwtIssuer, jwtAudience are not set for stage prod')
    expect(result.stderr).toContain('alarms would notify no one')
  })

  it('parses CLI strings', () => {
    const values: Record<string, unknown> = {
      ...context,
      throttleRate: '50',
      throttleBurst: '100',
      removalPolicy: 'destroy',
      corsOrigins: 'https://a.example.com, https://b.example.com',
      messageRetentionDays: '30',
      apiGatewayLogsRole: 'false',
    }
    expect(configFor(values).config).toMatchObject({
      messageRetentionDays: 30,
      throttleRate: 50,
      throttleBurst: 100,
      removalPolicy: 'destroy',
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      apiGatewayLogsRole: false,
    })
  })

  it('rejects bad values, listing every problem at once', () => {
    expect(
      problemsFor({
        ...context,
        jwksUrl: 'http://insecure.example.com/jwks.json',
        throttleRate: '-1',
        removalPolicy: 'keep',
        alarmEmail: 'not-an-email',
        alarmsWithoutNotification: 'maybe',
      }),
    ).toEqual([
      expect.stringContaining('jwksUrl must be an https:// URL'),
      expect.stringContaining("removalPolicy must be 'retain' or 'destroy'"),
      expect.stringContaining('alarmEmail must be an email address'),
      expect.stringContaining('alarmsWithoutNotification must be true or false'),
      expect.stringContaining('throttleRate must be a positive number'),
    ])
  })

  it('takes fanOutSliceSize, 1,000 by default, up to what one asynchronous invocation carries', () => {
    expect(configFor(context).config.fanOutSliceSize).toBe(1000)
    expect(configFor({ ...context, fanOutSliceSize: '250' }).config.fanOutSliceSize).toBe(250)
    expect(configFor({ ...context, fanOutSliceSize: maxFanOutSliceSize }).config.fanOutSliceSize).toBe(
      maxFanOutSliceSize,
    )
    // The largest slice, at its worst: the longest identities, long connection ids, and event data of
    // 128,000 bytes that doubles when escaped again.
    const target = { iss: 'i'.repeat(128), connectionId: 'c'.repeat(64) }
    const slice = {
      id: `${'f'.repeat(36)}/${maxFanOutSliceSize}`,
      event: 'chat.message.delete',
      data: '"'.repeat(128_000),
      targets: Array.from({ length: maxFanOutSliceSize }, () => target),
    }
    expect(Buffer.byteLength(JSON.stringify(slice))).toBeLessThanOrEqual(1_000_000)
  })

  it.each([0, -1, 1.5, 'abc', '0'])('refuses fanOutSliceSize %j', (size) => {
    expect(problemsFor({ ...context, fanOutSliceSize: size })).toEqual([
      `fanOutSliceSize must be a positive integer, got ${JSON.stringify(size)}`,
    ])
  })

  it.each([maxFanOutSliceSize + 1, '5000'])(
    'refuses fanOutSliceSize %j, whose slices would not fit',
    (size) => {
      expect(problemsFor({ ...context, fanOutSliceSize: size })).toEqual([
        `fanOutSliceSize must be at most ${maxFanOutSliceSize}, so that a slice fits Lambda's 1 MB ` +
          `asynchronous invocation payload, got ${Number(size)}`,
      ])
    },
  )

  it('takes messageRetentionDays as a number from cdk.json', () => {
    expect(configFor({ ...context, messageRetentionDays: 90 }).config.messageRetentionDays).toBe(90)
  })

  it.each([0, -1, 'abc', 1.5, '0', '-1', '1.5', true])('refuses messageRetentionDays %j', (retention) => {
    expect(problemsFor({ ...context, messageRetentionDays: retention })).toEqual([
      `messageRetentionDays must be a positive integer, got ${JSON.stringify(retention)}`,
    ])
  })
})
