import { fileURLToPath } from 'node:url'
import type { Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda'
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

const projectRoot = fileURLToPath(new URL('..', import.meta.url))

/** The newest Node.js runtime aws-cdk-lib offers: cdk-nag (AwsSolutions-L1) fails the synth once there is a newer. */
export const handlerRuntime = Runtime.NODEJS_24_X

/**
 * How every handler is bundled (bench/ measures cold starts with the same options): everything in, nothing
 * taken from the runtime (the functions use no AWS SDK; they sign their own requests).
 */
export const handlerBundling = {
  format: OutputFormat.ESM,
  // The Node.js the functions run: nodejs24.x → node24.
  target: handlerRuntime.name.replace(/^nodejs(\d+)\.x$/, 'node$1'),
  mainFields: ['module', 'main'],
  // Some CommonJS dependencies call require(); ESM output has none unless we provide it.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  externalModules: [],
  minify: true,
  sourceMap: true,
  sourcesContent: false,
} satisfies BundlingOptions

/** What differs between Huddle's functions; everything else is house policy. */
export interface HandlerFunctionProps {
  /** The file lambdas/handlers/<handler>.ts, which exports `handler`. */
  handler: string
  environment: Record<string, string>
  /** From the route table (`timeoutSeconds`). */
  timeout: Duration
  memorySize?: number
  removalPolicy: RemovalPolicy
}

/** One Lambda per handler file: Node.js 24 on arm64, ESM bundle with source maps, its own role and log group. */
export class HandlerFunction extends Construct {
  readonly function: NodejsFunction

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id)
    const logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    })
    // Our own role instead of AWSLambdaBasicExecutionRole: it may only write to this function's log group.
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') })
    logGroup.grantWrite(role)

    this.function = new NodejsFunction(this, 'Function', {
      entry: `${projectRoot}lambdas/handlers/${props.handler}.ts`,
      handler: 'handler',
      projectRoot,
      depsLockFilePath: `${projectRoot}package-lock.json`,
      runtime: handlerRuntime,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout,
      role,
      logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: 'huddle',
        POWERTOOLS_METRICS_NAMESPACE: 'Huddle',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: handlerBundling,
    })
  }
}
