/** The synthesized stack: its API, functions, grants, data stores and cdk-nag findings (monitoring.test.ts: its alarms). */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Validations } from 'aws-cdk-lib'
import { Match } from 'aws-cdk-lib/assertions'
import { Runtime } from 'aws-cdk-lib/aws-lambda'
import { describe, expect, it } from 'vitest'
import { envNames } from '../../lambdas/adapters/env-names.js'
import {
  authorizer,
  bucketPrefixes,
  fanOutWorker,
  purgeWorker,
  routes,
  workers,
} from '../../lambdas/routes.js'
import { settings } from '../../lambdas/settings.js'
import { handlerBundling } from '../../lib/handler-function.js'
import {
  actionsOf,
  allStatements,
  app,
  asArray,
  assembly,
  authorizerFunctionId,
  bucketArn,
  config,
  context,
  dynamoWriteActions,
  environmentOf,
  fanOutFunctionId,
  functionByRoute,
  functionOf,
  type Grant,
  grantsOf,
  logicalIdIn,
  ofType,
  rendered,
  resource,
  sortedGrants,
  tableArn,
  tableReadWrite,
  template,
  templateFor,
  workerFunctionIds,
} from '../support/stack-template.js'

const purgeFunctionId = workerFunctionIds.find((id) => id.startsWith('PurgeHandler')) ?? 'no purge worker'

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

  it('auto-deploys a throttled stage, without the logs that need the account’s API Gateway role by default', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'prod',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: config.throttleRate,
        ThrottlingBurstLimit: config.throttleBurst,
        LoggingLevel: Match.absent(),
      },
      AccessLogSettings: Match.absent(),
    })
  })

  it('leaves the account’s API Gateway logging role alone unless asked, and writes JSON access logs when told it is set', () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 0)
    expect(JSON.stringify(template.findResources('AWS::IAM::Role'))).not.toContain('apigateway.amazonaws.com')

    const accessLogSettings = {
      DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AccessLogs'), 'Arn'] },
      Format: Match.stringLikeRegexp('requestId'),
    }
    const logging = templateFor({ accessLogs: 'true' })
    logging.resourceCountIs('AWS::ApiGateway::Account', 0)
    logging.hasResourceProperties('AWS::ApiGatewayV2::Stage', { AccessLogSettings: accessLogSettings })

    // Asked, the stack sets the role for the account and region, keeps it when deleted, and logs.
    const owning = templateFor({ apiGatewayLogsRole: 'true' })
    owning.resourceCountIs('AWS::ApiGateway::Account', 1)
    const [[accountId, account] = []] = Object.entries(owning.findResources('AWS::ApiGateway::Account'))
    expect(account).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { CloudWatchRoleArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } },
    })
    const roleId = logicalIdIn(account?.Properties.CloudWatchRoleArn)
    expect(owning.toJSON().Resources[roleId]).toMatchObject({
      Type: 'AWS::IAM::Role',
      DeletionPolicy: 'Retain',
    })
    owning.hasResource('AWS::ApiGatewayV2::Stage', {
      DependsOn: Match.arrayWith([accountId]),
      Properties: Match.objectLike({ AccessLogSettings: accessLogSettings }),
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

  it('behind a route or the authorizer time out before API Gateway gives up on the integration (29 s at most)', () => {
    const integrationMillis = (value: unknown) => (value as number | undefined) ?? 29_000
    for (const [, route] of ofType('AWS::ApiGatewayV2::Route')) {
      const integration = resource(logicalIdIn(route.Properties.Target))
      const fn = resource(logicalIdIn(integration.Properties.IntegrationUri))
      const limit = integrationMillis(integration.Properties.TimeoutInMillis)
      expect(limit, String(route.Properties.RouteKey)).toBeLessThanOrEqual(29_000)
      expect((fn.Properties.Timeout as number) * 1000, String(route.Properties.RouteKey)).toBeLessThan(limit)
    }
    expect((resource(authorizerFunctionId).Properties.Timeout as number) * 1000).toBeLessThan(29_000)
    // The worker is invoked asynchronously, behind no integration, so it may take longer.
    expect(fanOutWorker.timeoutSeconds).toBeGreaterThan(29)
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
      // The bucket's host is named under the partition's domain, which is not amazonaws.com in China.
      expect(variables[envNames.urlSuffix], route.routeKey).toEqual(
        route.access.bucket ? { Ref: 'AWS::URLSuffix' } : undefined,
      )
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
      expect.arrayContaining(['avatar', 'invite', 'update', 'join', 'history', 'sync', 'groups']),
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

  it('delete objects only to delete a message or (in the purge worker) a group, never batch-write the table or grant an action no code calls', () => {
    const actions = new Set(allStatements.flatMap((s) => asArray(s.Action)))
    const deleting = routes.filter((route) => route.access.bucket?.delete).map((route) => route.routeKey)
    expect(deleting.sort()).toEqual(['delete'])
    const deletes = (routeKey: string) =>
      grantsOf(routeKey, 's3').filter((g) => g.action === 's3:DeleteObject')
    expect(deletes('delete').map((g) => g.resource)).toEqual([`${bucketArn}/${bucketPrefixes.files}*`])
    expect(deletes('deleteGroup')).toEqual([])
    expect(
      deletes(purgeFunctionId)
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
        'react',
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
        // Deleting a group also hands its purge to the purge worker.
        ...(route.routeKey === 'deleteGroup'
          ? [{ action: 'lambda:InvokeFunction', resource: `${purgeFunctionId}.Arn` }]
          : []),
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

  it('is invoked through Lambda’s API at the stack’s region and partition, whose domain is not always amazonaws.com', () => {
    for (const route of routes) {
      const endpoint = environmentOf(functionOf(route.routeKey))[envNames.lambdaEndpoint]
      expect(endpoint === undefined ? undefined : rendered(endpoint), route.routeKey).toBe(
        invokers.includes(route) ? 'https://lambda.AWS::Region.AWS::URLSuffix' : undefined,
      )
    }
    for (const [id, fn] of ofType('AWS::Lambda::Function')) {
      expect(JSON.stringify(environmentOf(fn)), id).not.toContain('amazonaws.com')
    }
  })

  it('is retried twice for up to 15 minutes, then recorded in an encrypted, TLS-only queue kept 14 days', () => {
    // A queued worker is retried by its queue instead (below).
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', workers.filter((w) => !w.queued).length)
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

describe('purge worker', () => {
  const { avatars, files, mls } = bucketPrefixes

  it('runs for up to five minutes, retried twice and recorded in a failure queue of its own', () => {
    expect(resource(purgeFunctionId).Properties).toMatchObject({
      Timeout: purgeWorker.timeoutSeconds,
      MemorySize: 256,
    })
    expect(purgeWorker.timeoutSeconds).toBe(300)
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: purgeFunctionId },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 15 * 60,
    })
    template.hasOutput('PurgeFailuresQueueUrl', {})
  })

  it("may use the table, list and delete a group's avatars, files and commit parts, and invoke itself, and nothing else", () => {
    const granted = (service: string) => sortedGrants(grantsOf(purgeFunctionId, service))
    expect(
      granted('dynamodb')
        .filter((g) => g.resource === tableArn)
        .map((g) => g.action)
        .sort(),
    ).toEqual(tableReadWrite)
    const prefixes = [avatars, files, mls]
    expect(granted('s3')).toEqual(
      sortedGrants([
        ...prefixes.map((prefix) => ({ action: 's3:GetObject', resource: `${bucketArn}/${prefix}*` })),
        ...prefixes.map((prefix) => ({ action: 's3:DeleteObject', resource: `${bucketArn}/${prefix}*` })),
        {
          action: 's3:ListBucket',
          resource: bucketArn,
          condition: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
        },
      ]),
    )
    // A worker near its deadline hands the rest of a purge to a fresh invocation of itself.
    expect(granted('lambda')).toEqual([
      { action: 'lambda:InvokeFunction', resource: `${purgeFunctionId}.Arn` },
    ])
    expect(granted('execute-api')).toEqual([])
    const services = new Set(actionsOf(purgeFunctionId).map((action) => action.split(':')[0]))
    expect([...services].sort()).toEqual(['dynamodb', 'lambda', 'logs', 's3', 'sqs'])
  })

  it('is invoked by deleteGroup alone, which is given its name and deletes no object itself', () => {
    const invokers = routes.filter((route) => route.access.invoke?.includes(purgeWorker.handler))
    expect(invokers.map((route) => route.routeKey)).toEqual(['deleteGroup'])
    for (const route of routes) {
      expect(environmentOf(functionOf(route.routeKey))[envNames.purgeFunction], route.routeKey).toEqual(
        route.routeKey === 'deleteGroup' ? { Ref: purgeFunctionId } : undefined,
      )
    }
    expect(grantsOf('deleteGroup', 's3')).toEqual([])
    // Its own name comes from Lambda's context, not its environment (which cannot name the function itself).
    expect(environmentOf(resource(purgeFunctionId))[envNames.purgeFunction]).toBeUndefined()
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
      // Access logs, off until the account's API Gateway role is set.
      'AwsSolutions-APIG1',
      'AwsSolutions-APIG4',
      'AwsSolutions-IAM5',
      'AwsSolutions-S1',
      // The worker's failure queue is where failed slices end; it needs no dead-letter queue of its own.
      'AwsSolutions-SQS3',
    ])
  })
})
