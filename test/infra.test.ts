import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { App, Validations } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { AwsSolutionsChecks } from 'cdk-nag'
import { describe, expect, it } from 'vitest'
import { envNames } from '../lambdas/adapters/env-names.js'
import { authorizer, routes } from '../lambdas/routes.js'
import { ConfigError, placeholderJwt, readHuddleConfig } from '../lib/config.js'
import { HuddleStack } from '../lib/huddle-stack.js'

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }
type Statement = { Effect: string; Action: string | string[]; Resource: unknown }

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

/** Route key → the logical id of the Lambda function its integration invokes. */
const functionByRoute = new Map(
  ofType('AWS::ApiGatewayV2::Route').map(([, route]) => {
    const integration = resource(logicalIdIn(route.Properties.Target))
    return [route.Properties.RouteKey as string, logicalIdIn(integration.Properties.IntegrationUri)]
  }),
)

const functionOf = (routeKey: string): Resource => resource(functionByRoute.get(routeKey) ?? routeKey)
const environmentOf = (fn: Resource): Record<string, unknown> =>
  (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables

/** Every IAM action granted to the role of the function behind `routeKey`. */
const actionsOf = (routeKey: string): string[] => {
  const roleId = logicalIdIn(functionOf(routeKey).Properties.Role)
  return ofType('AWS::IAM::Policy')
    .filter(([, policy]) => (policy.Properties.Roles as unknown[]).some((r) => logicalIdIn(r) === roleId))
    .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .flatMap((statement) => asArray(statement.Action))
}
const dynamoWriteActions =
  /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|PartiQL(Insert|Update|Delete))$/
const writingRoutes = routes.filter((route) => route.access.table === 'readWrite').map((r) => r.routeKey)

/** Synthesizes the stack (without bundling or cdk-nag) for another context and returns its template. */
const templateFor = (overrides: Record<string, unknown>): Template => {
  const values = { ...context, ...overrides }
  const otherApp = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } })
  const other = new HuddleStack(otherApp, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
  return Template.fromStack(other)
}

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
  it('all run Node.js 22 on arm64', () => {
    const functions = ofType('AWS::Lambda::Function')
    expect(functions).toHaveLength(routes.length + 1)
    for (const [id, fn] of functions) {
      expect({ id, runtime: fn.Properties.Runtime, arch: fn.Properties.Architectures }).toEqual({
        id,
        runtime: 'nodejs22.x',
        arch: ['arm64'],
      })
    }
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
      expect(Object.hasOwn(variables, envNames.jwksUrl), route.routeKey).toBe(false)
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [envNames.jwksUrl]: context.jwksUrl,
          [envNames.jwtIssuer]: context.jwtIssuer,
          [envNames.jwtAudience]: context.jwtAudience,
        }),
      },
    })
  })

  it('that write events get the message retention (365 days by default); the others do not', () => {
    expect(writingRoutes).toEqual(expect.arrayContaining(['message', 'join', 'leave', 'edit', 'delete']))
    for (const route of routes) {
      const variables = environmentOf(functionOf(route.routeKey))
      expect(variables[envNames.retentionDays], route.routeKey).toBe(
        route.access.table === 'readWrite' ? '365' : undefined,
      )
    }
    const withRetention = ofType('AWS::Lambda::Function').filter(([, fn]) =>
      Object.hasOwn(environmentOf(fn), envNames.retentionDays),
    )
    expect(withRetention).toHaveLength(writingRoutes.length)
  })

  it('get the configured message retention when one is given', () => {
    const configured = templateFor({ messageRetentionDays: '30' }).findResources('AWS::Lambda::Function')
    for (const route of routes) {
      const fn = configured[functionByRoute.get(route.routeKey) ?? route.routeKey] as Resource | undefined
      expect(fn, route.routeKey).toBeDefined()
      expect(environmentOf(fn as Resource)[envNames.retentionDays], route.routeKey).toBe(
        route.access.table === 'readWrite' ? '30' : undefined,
      )
    }
  })

  it('may touch only what their access entry names', () => {
    for (const route of routes) {
      const actions = actionsOf(route.routeKey)
      const { access } = route
      expect(
        actions.some((a) => a.startsWith('dynamodb:')),
        route.routeKey,
      ).toBe(!!access.table)
      expect(actions.includes('dynamodb:PutItem'), route.routeKey).toBe(access.table === 'readWrite')
      expect(actions.includes('s3:GetObject'), route.routeKey).toBe(!!access.bucket)
      expect(actions.includes('s3:PutObject'), route.routeKey).toBe(access.bucket === 'readWrite')
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

  it('for history and receipts may only read the table', () => {
    for (const routeKey of ['history', 'receipts']) {
      const actions = actionsOf(routeKey)
      expect(actions.filter((a) => a.startsWith('dynamodb:')).sort(), routeKey).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:GetItem',
        'dynamodb:Query',
      ])
      expect(
        actions.filter((a) => dynamoWriteActions.test(a)),
        routeKey,
      ).toEqual([])
      expect(
        actions.filter((a) => !/^(dynamodb|logs):/.test(a)),
        routeKey,
      ).toEqual([])
    }
  })

  it('for edit, delete and receipt may write the table and post to connections, and nothing in S3', () => {
    for (const routeKey of ['edit', 'delete', 'receipt']) {
      const actions = actionsOf(routeKey)
      expect(actions, routeKey).toEqual(
        expect.arrayContaining(['dynamodb:Query', 'dynamodb:PutItem', 'execute-api:ManageConnections']),
      )
      expect(
        actions.filter((a) => a.startsWith('s3:')),
        routeKey,
      ).toEqual([])
    }
  })

  it('each have their own role', () => {
    const roles = ofType('AWS::Lambda::Function').map(([, fn]) => logicalIdIn(fn.Properties.Role))
    expect(new Set(roles).size).toBe(routes.length + 1)
  })

  it('never grant DynamoDB or S3 actions on every resource', () => {
    const statements = ofType('AWS::IAM::Policy').flatMap(
      ([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    )
    const dataStatements = statements.filter((s) => asArray(s.Action).some((a) => /^(dynamodb|s3):/.test(a)))
    expect(dataStatements.length).toBeGreaterThan(0)
    for (const statement of dataStatements) {
      expect(asArray(statement.Resource)).not.toContain('*')
      expect(asArray(statement.Action).filter((a) => a.endsWith(':*'))).toEqual([])
    }
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
        LifecycleConfiguration: {
          Rules: [Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } })],
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
})

describe('monitoring', () => {
  it('has a dashboard with the custom, API Gateway, Lambda and DynamoDB metrics', () => {
    const [dashboard] = ofType('AWS::CloudWatch::Dashboard')
    const body = JSON.stringify(dashboard?.[1].Properties.DashboardBody)
    for (const metric of [
      'FanOutLatency',
      'DeliveryFailures',
      'ConnectCount',
      'IntegrationError',
      'Throttles',
    ]) {
      expect(body).toContain(metric)
    }
    expect(body).toContain('ReadThrottleEvents')
    expect(body).toContain('ConsumedWriteCapacityUnits')
  })

  it('alarms on function errors and throttles, API errors and table throttles, by email', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties)
    const named = (metricName: string) => alarms.filter((alarm) => alarm.MetricName === metricName)
    expect(named('Errors')).toHaveLength(routes.length)
    expect(named('Throttles')).toHaveLength(routes.length + 1)
    expect(named('IntegrationError')).toHaveLength(1)
    expect(named('ExecutionError')).toHaveLength(1)
    expect(JSON.stringify(alarms)).toContain('ThrottleEvents')
    for (const alarm of alarms) expect(alarm.AlarmActions).toHaveLength(1)
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    })
  })

  it('graphs and alarms on every route function by name', () => {
    const [dashboard] = ofType('AWS::CloudWatch::Dashboard')
    const body = JSON.stringify(dashboard?.[1].Properties.DashboardBody)
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties)
    for (const route of routes) {
      const functionId = functionByRoute.get(route.routeKey)
      // Invocations, errors, p99 duration and throttles by route, each labelled with the route key.
      expect(body.split(`{"Ref":"${functionId}"}`), route.routeKey).toHaveLength(5)
      expect(body.split(`\\"label\\":\\"${route.routeKey}\\"`), route.routeKey).toHaveLength(5)
      for (const metricName of ['Errors', 'Throttles']) {
        const watching = alarms.filter(
          (alarm) =>
            alarm.MetricName === metricName && JSON.stringify(alarm.Dimensions).includes(`"${functionId}"`),
        )
        expect(watching, `${route.routeKey} ${metricName}`).toHaveLength(1)
      }
    }
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
    expect([...rules].sort()).toEqual([
      'AwsSolutions-APIG4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-L1',
      'AwsSolutions-S1',
    ])
  })
})

describe('configuration', () => {
  /** The error `readHuddleConfig` throws for these context values (undefined when it accepts them). */
  const errorFor = (values: Record<string, unknown>): unknown => {
    try {
      readHuddleConfig((key) => values[key])
    } catch (thrown) {
      return thrown
    }
  }

  it('falls back to placeholders with a warning when no JWT settings are given', () => {
    const { config: fallback, warnings } = readHuddleConfig(() => undefined)
    expect(fallback).toMatchObject({ ...placeholderJwt, stageName: 'prod', removalPolicy: 'retain' })
    expect(fallback.corsOrigins).toEqual(['*'])
    expect(fallback.messageRetentionDays).toBe(365)
    expect(warnings).toHaveLength(1)
  })

  it('parses CLI strings', () => {
    const values: Record<string, unknown> = {
      ...context,
      throttleRate: '50',
      throttleBurst: '100',
      removalPolicy: 'destroy',
      corsOrigins: 'https://a.example.com, https://b.example.com',
      messageRetentionDays: '30',
    }
    expect(readHuddleConfig((key) => values[key]).config).toMatchObject({
      messageRetentionDays: 30,
      throttleRate: 50,
      throttleBurst: 100,
      removalPolicy: 'destroy',
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
    })
  })

  it('rejects bad values, listing every problem at once', () => {
    const values: Record<string, unknown> = {
      jwksUrl: 'http://insecure.example.com/jwks.json',
      throttleRate: '-1',
      removalPolicy: 'keep',
      alarmEmail: 'not-an-email',
    }
    const error = errorFor(values)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).problems).toEqual([
      expect.stringContaining('jwtIssuer, jwtAudience must be set'),
      expect.stringContaining('jwksUrl must be an https:// URL'),
      expect.stringContaining("removalPolicy must be 'retain' or 'destroy'"),
      expect.stringContaining('alarmEmail must be an email address'),
      expect.stringContaining('throttleRate must be a positive number'),
    ])
  })

  it('takes messageRetentionDays as a number from cdk.json', () => {
    const values: Record<string, unknown> = { ...context, messageRetentionDays: 90 }
    expect(readHuddleConfig((key) => values[key]).config.messageRetentionDays).toBe(90)
  })

  it.each([0, -1, 'abc', 1.5, '0', '-1', '1.5', true])('refuses messageRetentionDays %j', (retention) => {
    const error = errorFor({ ...context, messageRetentionDays: retention })
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).problems).toEqual([
      `messageRetentionDays must be a positive integer, got ${JSON.stringify(retention)}`,
    ])
  })
})
