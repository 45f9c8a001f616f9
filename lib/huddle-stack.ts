import {
  Aws,
  CfnCondition,
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib'
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway'
import {
  LogGroupLogDestination,
  WebSocketApi,
  WebSocketStage,
  type WebSocketStageProps,
} from 'aws-cdk-lib/aws-apigatewayv2'
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb'
import * as iam from 'aws-cdk-lib/aws-iam'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations'
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3'
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs'
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js'
import type { Construct } from 'constructs'
import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'
import { envNames } from '../lambdas/adapters/env-names.js'
import {
  authorizer,
  bucketPrefixes,
  fanOutWorker,
  presenceWorker,
  purgeWorker,
  type RouteAccess,
  routes,
  type WorkerDefinition,
  workers,
} from '../lambdas/routes.js'
import { settingsEnvironment } from '../lambdas/settings.js'
import { avatarCorsRule } from './avatar-cors.js'
import type { HuddleConfig } from './config.js'
import { HandlerFunction } from './handler-function.js'
import { HuddleMonitoring, type MonitoredFunction, type MonitoredWorker } from './monitoring.js'
import { addSignInAndWebChat } from './sign-in-and-web-chat.js'

/** The stack's inputs: the validated configuration from bin/app.ts. */
export interface HuddleStackProps extends StackProps {
  config: HuddleConfig
}

/** What lambdas/adapters/dynamo/ calls: GetItem, BatchGetItem and Query to read. */
const dynamoRead = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query']
/** UpdateItem, and TransactWriteItems, which IAM authorizes as the item actions it contains. */
const dynamoWrite = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
]

/**
 * Lambda's most: a worker that runs out of time leaves the rest of its slice for the next attempt, which
 * Lambda makes a minute, then two minutes, later.
 */
const workerRetryAttempts = 2
/**
 * A slice still waiting after this goes to the failure queue rather than being posted. Both retries fit well
 * within it (about 6 minutes with three full runs). Past it, a recipient has likely caught the event up from
 * the group's log already (the SDK fills a gap in `seq` when the group's next event arrives, and `sync`
 * does on reconnect), and a throttled backlog is better reported than delivered late. It stays far below
 * the day a slice's record is kept, so a late repeat is still recognised.
 */
const workerMaxEventAge = Duration.minutes(15)

/** Huddle's stack: the WebSocket API from the route table, its data stores, and its monitoring (nested). */
export class HuddleStack extends Stack {
  /** The operators' dashboard and alarms, a nested stack of their own. */
  readonly monitoring: HuddleMonitoring

  constructor(scope: Construct, id: string, props: HuddleStackProps) {
    super(scope, id, props)
    const { config } = props
    const retain = config.removalPolicy === 'retain'
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY

    const table = new TableV2(this, 'Table', {
      partitionKey: { name: tableSchema.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSchema.sortKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: tableSchema.ttlAttribute,
      globalSecondaryIndexes: [
        {
          indexName: tableSchema.userIndex.indexName,
          partitionKey: { name: tableSchema.userIndex.partitionKey, type: AttributeType.STRING },
          sortKey: { name: tableSchema.userIndex.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType.ALL,
        },
      ],
      deletionProtection: retain,
      removalPolicy,
    })

    const bucket = new Bucket(this, 'Avatars', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      // With the web chat, its distribution's origin joins these once it exists (allowAvatarOrigins).
      ...(!config.webChat && { cors: [avatarCorsRule(config.corsOrigins)] }),
      lifecycleRules: [
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // An upload no invite, message or commit copied to avatars/, files/ or mls/ is abandoned.
        { id: 'ExpireUploads', prefix: bucketPrefixes.uploads, expiration: Duration.days(1) },
        // A message's files go when its event does (the retention), a day later at the latest.
        {
          id: 'ExpireFiles',
          prefix: bucketPrefixes.files,
          expiration: Duration.days(config.messageRetentionDays + 1),
        },
        // An encrypted group's commit parts likewise go with their `chat.commit` events.
        {
          id: 'ExpireMlsParts',
          prefix: bucketPrefixes.mls,
          expiration: Duration.days(config.messageRetentionDays + 1),
        },
      ],
      removalPolicy,
      autoDeleteObjects: !retain,
    })
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Objects are reached only through presigned URLs that Huddle functions issue and log; ' +
        'a second bucket for access logs would add cost without adding an audit trail worth having.',
    })

    const api = new WebSocketApi(this, 'Api', {
      apiName: `huddle-${config.stageName}`,
      routeSelectionExpression: '$request.body.action',
    })

    const stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: api,
      stageName: config.stageName,
      autoDeploy: true,
      throttle: { rateLimit: config.throttleRate, burstLimit: config.throttleBurst },
      ...(config.accessLogs && { accessLogSettings: this.accessLogSettings(removalPolicy) }),
    })
    if (!config.accessLogs) {
      Validations.of(stage).acknowledge({
        id: 'AwsSolutions-APIG1',
        reason:
          "A WebSocket stage's access logs need API Gateway's CloudWatch role, one per account and region, which " +
          'a stage stack does not set unless asked; accessLogs=true turns them on once it is set.',
      })
    }
    if (config.apiGatewayLogsRole) stage.node.addDependency(this.apiGatewayLogsRole())

    const poolTokens = addSignInAndWebChat(this, {
      config,
      apiId: api.apiId,
      stage,
      avatars: bucket,
      removalPolicy,
    })

    const monitored: MonitoredFunction[] = []
    const authorizerFunction = new HandlerFunction(this, 'AuthorizerHandler', {
      handler: authorizer.handler,
      removalPolicy,
      timeout: Duration.seconds(authorizer.timeoutSeconds),
      // With a user pool, the pool's issuer, keys and client; otherwise the stage's own.
      environment: settingsEnvironment('authorizer', { ...config, ...poolTokens }),
    }).function
    monitored.push({ label: 'authorizer', function: authorizerFunction, alarmOnErrors: false })
    const connectAuthorizer = new WebSocketLambdaAuthorizer('ConnectAuthorizer', authorizerFunction, {
      identitySource: [authorizer.identitySource],
    })

    const workerFunctions = new Map<string, IFunction>()
    const workerFunction = (handler: string): IFunction => {
      const fn = workerFunctions.get(handler)
      if (fn === undefined) throw new Error(`no worker function for handler ${handler}`)
      return fn
    }
    /** What a function that invokes a worker needs to reach it, by the worker's handler. */
    const workerSettings: Record<string, (worker: IFunction) => Record<string, string>> = {
      [fanOutWorker.handler]: (worker) => ({ [envNames.fanOutFunction]: worker.functionName }),
      [purgeWorker.handler]: (worker) => ({ [envNames.purgeFunction]: worker.functionName }),
    }
    const workerQueues = new Map<string, Queue>()
    const workerQueue = (handler: string): Queue => {
      const queue = workerQueues.get(handler)
      if (queue === undefined) throw new Error(`no queue for worker ${handler}`)
      return queue
    }
    /** What a function that sends to a queued worker needs to reach its queue, by the worker's handler. */
    const queueSettings: Record<string, (queue: Queue) => Record<string, string>> = {
      [presenceWorker.handler]: (queue) => ({ [envNames.presenceQueueUrl]: queue.queueUrl }),
    }
    const settingsToEnqueue = (handler: string): Record<string, string> => {
      const settings = queueSettings[handler]
      if (settings === undefined) throw new Error(`worker ${handler} has no settings for its senders`)
      return settings(workerQueue(handler))
    }
    const settingsToInvoke = (handler: string): Record<string, string> => {
      const settings = workerSettings[handler]
      if (settings === undefined) throw new Error(`worker ${handler} has no settings for its callers`)
      return settings(workerFunction(handler))
    }

    // Lambda's API in this region and partition: the host's suffix is not amazonaws.com everywhere (China).
    const lambdaEndpoint = `https://lambda.${this.region}.${this.urlSuffix}`
    const sqsEndpoint = `https://sqs.${this.region}.${this.urlSuffix}`

    /** One function per route or worker (a route has a worker's fields), with what its access entry calls for. */
    const handlerFunction = ({ handler, access, timeoutSeconds }: WorkerDefinition): IFunction => {
      const fn = new HandlerFunction(this, `${pascalCase(handler)}Handler`, {
        handler,
        removalPolicy,
        timeout: Duration.seconds(timeoutSeconds),
        // Memory is chosen for CPU: `npm run bench` measures at most about 50 MB of heap and buffers in any
        // function, even posting to 10,000 members, so 256 MB holds any of them with the runtime. A fan-out
        // is CPU-bound (about 0.12 ms of CPU per post): 1 GB (about 0.6 vCPU) posts a slice of 1,000 in about
        // 0.2 s, four times faster than 256 MB for about the same GB-seconds. The worker posts slices of the
        // same fan-outs, so it gets the same.
        ...(access.connections && { memorySize: 1024 }),
        environment: {
          ...(access.table ? { [envNames.tableName]: table.tableName } : {}),
          ...(access.bucket
            ? { [envNames.bucketName]: bucket.bucketName, [envNames.urlSuffix]: this.urlSuffix }
            : {}),
          ...(access.connections ? { [envNames.callbackUrl]: stage.callbackUrl } : {}),
          ...settingsEnvironment(access, config),
          // A worker that invokes itself finds its own name in Lambda's context.
          ...Object.assign({}, ...(access.invoke ?? []).filter((w) => w !== handler).map(settingsToInvoke)),
          ...((access.invoke ?? []).length > 0 && { [envNames.lambdaEndpoint]: lambdaEndpoint }),
          ...Object.assign({}, ...(access.enqueue ?? []).map(settingsToEnqueue)),
          ...((access.enqueue ?? []).length > 0 && { [envNames.sqsEndpoint]: sqsEndpoint }),
        },
      }).function
      this.grantAccess(fn, handler, access, {
        tableArn: table.tableArn,
        bucketArn: bucket.bucketArn,
        stage,
        workerFunction,
        workerQueue,
      })
      return fn
    }

    // Workers first: the functions that invoke them are given their names.
    const monitoredWorkers: MonitoredWorker[] = []
    for (const worker of workers) {
      const fn = handlerFunction(worker)
      const failures = new Queue(this, `${pascalCase(worker.handler)}Failures`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy,
      })
      Validations.of(failures).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the end of the line: it holds what the worker never finished (on-failure ' +
          'records, or dead letters), for an operator to read.',
      })
      if (worker.queued) {
        // Its own queue triggers it; a message that failed three times goes to the failures queue.
        const queue = new Queue(this, `${pascalCase(worker.handler)}Queue`, {
          encryption: QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          // At least six times the function's timeout, as Lambda's event source advises.
          visibilityTimeout: Duration.seconds(worker.timeoutSeconds * 6),
          deadLetterQueue: { queue: failures, maxReceiveCount: workerRetryAttempts + 1 },
          removalPolicy,
        })
        fn.addEventSource(new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true }))
        workerQueues.set(worker.handler, queue)
      } else {
        fn.configureAsyncInvoke({
          retryAttempts: workerRetryAttempts,
          maxEventAge: workerMaxEventAge,
          onFailure: new SqsDestination(failures),
        })
      }
      workerFunctions.set(worker.handler, fn)
      const queue = workerQueues.get(worker.handler)
      monitoredWorkers.push({ label: worker.handler, function: fn, failures, ...(queue && { queue }) })
      new CfnOutput(this, `${pascalCase(worker.handler)}FailuresQueueUrl`, {
        value: failures.queueUrl,
        description: `Events the ${worker.handler} worker never finished (Lambda's on-failure records, or a queue's dead letters)`,
      })
    }

    for (const route of routes) {
      const fn = handlerFunction(route)
      const webSocketRoute = api.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${pascalCase(route.handler)}Integration`, fn),
        returnResponse: route.replies,
        ...(route.routeKey === '$connect' ? { authorizer: connectAuthorizer } : {}),
      })
      if (route.routeKey !== '$connect') {
        Validations.of(webSocketRoute).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'API Gateway authorizes a WebSocket once, on $connect; later frames ride that authorized connection.',
        })
      }
      monitored.push({ label: route.routeKey, function: fn })
    }

    this.monitoring = new HuddleMonitoring(this, 'Monitoring', {
      apiId: api.apiId,
      stageName: stage.stageName,
      table,
      functions: monitored,
      workers: monitoredWorkers,
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
      ...(config.alarmTopicArn === undefined ? {} : { alarmTopicArn: config.alarmTopicArn }),
    })

    new CfnOutput(this, 'WebSocketUrl', {
      value: stage.url,
      description: 'Clients connect here: append ?token=<JWT>',
    })
    new CfnOutput(this, 'CallbackUrl', {
      value: stage.callbackUrl,
      description: 'Management API (@connections) the functions post through',
    })
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${this.consoleDomain()}/cloudwatch/home?region=${this.region}#dashboards:name=${this.monitoring.dashboard.dashboardName}`,
      description: 'CloudWatch dashboard for operators',
    })
    new CfnOutput(this, 'TableName', { value: table.tableName, description: 'DynamoDB table' })
    new CfnOutput(this, 'BucketName', {
      value: bucket.bucketName,
      description: 'S3 bucket for group avatars',
    })
  }

  /**
   * The AWS console's domain in this stack's partition: China's and GovCloud's have their own, and any other
   * partition gets the commercial one (conditions, unlike a mapping, cannot fail a deploy on an unknown key).
   */
  private consoleDomain(): string {
    const inPartition = (id: string, partition: string) =>
      new CfnCondition(this, id, { expression: Fn.conditionEquals(Aws.PARTITION, partition) }).logicalId
    return Fn.conditionIf(
      inPartition('InChina', 'aws-cn'),
      'console.amazonaws.cn',
      Fn.conditionIf(
        inPartition('InGovCloud', 'aws-us-gov'),
        'console.amazonaws-us-gov.com',
        'console.aws.amazon.com',
      ),
    ).toString()
  }

  /** Grants one function exactly its `access` entry, with named actions and no `*` resources. */
  private grantAccess(
    fn: IFunction,
    handler: string,
    access: RouteAccess,
    targets: {
      tableArn: string
      bucketArn: string
      stage: WebSocketStage
      workerFunction: (handler: string) => IFunction
      workerQueue: (handler: string) => Queue
    },
  ): void {
    const role = fn.role
    if (role === undefined) throw new Error(`${fn.node.path} has no role to grant to`)
    const allow = (
      actions: string[],
      resources: string[],
      conditions?: iam.Conditions,
    ): iam.PolicyStatement => {
      const statement = new iam.PolicyStatement({ actions, resources, ...(conditions && { conditions }) })
      role.addToPrincipalPolicy(statement)
      return statement
    }
    if (access.table) {
      allow(access.table === 'readWrite' ? [...dynamoRead, ...dynamoWrite] : dynamoRead, [targets.tableArn])
      // The user index is only ever queried.
      allow(['dynamodb:Query'], [`${targets.tableArn}/index/${tableSchema.userIndex.indexName}`])
    }
    if (access.bucket) {
      const { read = [], write = [], delete: deletes = [] } = access.bucket
      const objectsUnder = (prefixes: readonly string[]) =>
        prefixes.map((prefix) => `${targets.bucketArn}/${prefix}*`)
      const objects: iam.PolicyStatement[] = []
      if (read.length > 0) {
        objects.push(allow(['s3:GetObject'], objectsUnder(read)))
        // Listing under the same prefixes lets HeadObject on a missing key answer 404 rather than 403.
        allow(['s3:ListBucket'], [targets.bucketArn], {
          StringLike: { 's3:prefix': read.map((prefix) => `${prefix}*`) },
        })
      }
      if (write.length > 0) objects.push(allow(['s3:PutObject'], objectsUnder(write)))
      if (deletes.length > 0) objects.push(allow(['s3:DeleteObject'], objectsUnder(deletes)))
      this.acknowledgeWildcardResources(
        role,
        objects,
        'Avatar object keys are minted per upload; the grant is scoped to the key prefixes the route table names.',
      )
    }
    if (access.connections) {
      const grant = targets.stage.grantManagementApiAccess(role)
      this.acknowledgeWildcardResources(
        role,
        grant.principalStatements,
        'Connection ids are only known at run time; the grant is scoped to this API and stage.',
      )
    }
    for (const worker of access.enqueue ?? []) {
      allow(['sqs:SendMessage'], [targets.workerQueue(worker).queueArn])
    }
    // The unqualified function only: grantInvoke would add every version and alias (`<arn>:*`).
    for (const worker of access.invoke ?? []) {
      if (worker !== handler) {
        allow(['lambda:InvokeFunction'], [targets.workerFunction(worker).functionArn])
        continue
      }
      // A worker handing work to itself: a policy of its own, as the role's default policy, which the function
      // waits for, cannot name the function (a circular dependency).
      new iam.Policy(this, `${pascalCase(handler)}InvokesItself`, {
        roles: [role],
        statements: [
          new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
        ],
      })
    }
  }

  /** cdk-nag reports each wildcard resource as its own finding, so each is acknowledged by its exact id. */
  private acknowledgeWildcardResources(
    scope: Construct,
    statements: iam.PolicyStatement[],
    reason: string,
  ): void {
    for (const resource of statements.flatMap((statement) => statement.resources)) {
      const finding = flattenCfnReference(this.resolve(resource))
      if (finding.includes('*')) {
        Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${finding}]`, reason })
      }
    }
  }

  /** A JSON line per connect, message and disconnect, in a log group kept a month. */
  private accessLogSettings(removalPolicy: RemovalPolicy): WebSocketStageProps['accessLogSettings'] {
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy })
    return {
      destination: new LogGroupLogDestination(accessLogs),
      format: AccessLogFormat.custom(
        JSON.stringify({
          requestId: '$context.requestId',
          time: '$context.requestTimeEpoch',
          connectionId: '$context.connectionId',
          eventType: '$context.eventType',
          routeKey: '$context.routeKey',
          status: '$context.status',
          sourceIp: '$context.identity.sourceIp',
          principal: '$context.authorizer.principalId',
          integrationLatency: '$context.integrationLatency',
          error: '$context.error.message',
          authorizerError: '$context.authorizer.error',
        }),
      ),
    }
  }

  /**
   * API Gateway writes a WebSocket stage's logs only once the account has a CloudWatch role in the region:
   * one setting for every API there, which this stack then owns (apiGatewayLogsRole).
   */
  private apiGatewayLogsRole(): CfnAccount {
    const pushToLogs = iam.ManagedPolicy.fromAwsManagedPolicyName(
      'service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    )
    const role = new iam.Role(this, 'ApiGatewayLogsRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [pushToLogs],
    })
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM4[Policy::${flattenCfnReference(this.resolve(pushToLogs.managedPolicyArn))}]`,
      reason: 'AmazonAPIGatewayPushToCloudWatchLogs is the documented policy for API Gateway’s logging role.',
    })
    // Other APIs in the account rely on this setting, so deleting the stack must not pull it away.
    role.applyRemovalPolicy(RemovalPolicy.RETAIN)
    const account = new CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn })
    account.applyRemovalPolicy(RemovalPolicy.RETAIN)
    return account
  }
}

function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')
}
