import { join } from 'node:path'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { envNames } from '../lambdas/adapters/env-names.js'
import type { RateLimit } from '../lambdas/core/ports.js'
import type { RateBucket } from '../lambdas/core/rate-limits.js'
import { defaultChatSettings, type Settings, settings as settingRows } from '../lambdas/settings.js'
import { type AwsBehaviours, awsAccountRequestRate, awsLikeBehaviours } from './aws-behaviours.js'
import { dataDirFiles, lockDataDir } from './data-dir.js'
import { createDevTokens, devTokenClaims } from './dev-tokens.js'
import {
  emulatorClientConfig,
  type S3Emulator,
  type S3EmulatorOptions,
  startDynamoDbLocal,
  startS3Emulator,
} from './emulators.js'
import type { FunctionOutput } from './functions.js'
import { type Gateway, startGateway } from './gateway.js'
import { localIssuer } from './oidc/provider.js'
import { ensureTable } from './table.js'
import { startTtlSweeper } from './ttl-sweeper.js'

export const localNames = { table: 'huddle', bucket: 'huddle-avatars' } as const

export interface LocalStackOptions {
  /** Port of the WebSocket gateway; 0 picks a free one. */
  port: number
  /**
   * Where DynamoDB Local and the S3 emulator keep their data, the dev tokens their signing key and the
   * OpenID provider its accounts; one stack at a time (a lock file). In memory, keeping nothing, when
   * undefined.
   */
  dataDir?: string
  idleTimeoutMs?: number
  maxLifetimeMs?: number
  /** The bucket's CORS origins and upload lifetime (as deployed by default). */
  s3?: S3EmulatorOptions
  /**
   * Connections per fan-out slice (FANOUT_SLICE_SIZE; 1,000 as deployed): a small size sends even a small
   * group's fan-out through the worker, for tests and benchmarks.
   */
  fanOutSliceSize?: number
  /**
   * The fan-out workers' posts a second, all together (FANOUT_POSTS_PER_SECOND): `localFanOutPostsPerSecond`
   * unless given, the deployed share of the local account's rate.
   */
  fanOutPostsPerSecond?: number
  /** Each identity's token buckets (as deployed by default); a benchmark that sends from one identity as
   * fast as it can raises them. */
  rateLimits?: Partial<Record<RateBucket, RateLimit>>
  /** How presence behaves (PRESENCE_GRACE_SECONDS, PRESENCE_MAX_MEMBERS; as deployed by default): tests
   * shorten the grace period so as not to wait out 20 s. */
  presence?: { graceSeconds?: number; maxMembers?: number }
  log?: (line: string) => void
  /** Where the functions' own output (their logs) goes: the terminal by default. */
  functionOutput?: FunctionOutput
  /** The AWS behaviours the gateway's access proxies reproduce: awsLikeBehaviours unless overridden. */
  aws?: Partial<AwsBehaviours>
  /** How long the local OpenID provider's ID tokens live, in seconds: 15 minutes by default. */
  idTokenLifetimeSeconds?: number
}

export interface LocalStack {
  url: string
  dynamoEndpoint: string
  s3Endpoint: string
  /** The AWS behaviours in force and what they injected (GET /dev/aws-behaviours serves the same). */
  aws: Gateway['aws']
  stop(): Promise<void>
}

/** Emulators for the stateful parts, plus a gateway that runs the real handlers against them. */
export async function startEmulators(
  dataDir: string | undefined,
  log: (line: string) => void,
  s3Options?: S3EmulatorOptions,
) {
  log('starting DynamoDB Local…')
  const dynamo = await startDynamoDbLocal(dataDir && `${dataDir}/dynamodb`)
  let s3: S3Emulator
  try {
    log('starting the S3 emulator…')
    s3 = await startS3Emulator(localNames.bucket, dataDir && `${dataDir}/s3`, s3Options)
    const db = new DynamoDBClient({ ...emulatorClientConfig, endpoint: dynamo.endpoint })
    await ensureTable(db, localNames.table)
    db.destroy()
  } catch (error) {
    await dynamo.stop()
    throw error
  }
  return { dynamo, s3, stop: () => Promise.all([dynamo.stop(), s3.stop()]).then(() => {}) }
}

/**
 * The workers' budget locally: the deployed default's share (half) of the local account's request rate
 * (awsLikeBehaviours.callbackRatePerSecond, itself AWS's 10,000 halved), so that pacing is what keeps the
 * workers within it here too.
 */
export const localFanOutPostsPerSecond = Math.round(
  (defaultChatSettings.fanOutPostsPerSecond * awsLikeBehaviours.callbackRatePerSecond) /
    awsAccountRequestRate,
)

/**
 * The settings the local stack runs with: as deployed by default, with its own token issuer (the OpenID
 * provider at <gateway>/oidc, which /dev/token's tokens name too).
 */
export function localSettings(
  gatewayUrl: string,
  settings: Pick<
    LocalStackOptions,
    'fanOutSliceSize' | 'fanOutPostsPerSecond' | 'rateLimits' | 'presence'
  > = {},
): Settings {
  const { messages, writes } = settings.rateLimits ?? {}
  return {
    ...defaultChatSettings,
    jwksUrl: `${gatewayUrl}/.well-known/jwks.json`,
    jwtIssuer: localIssuer(gatewayUrl),
    jwtAudience: devTokenClaims.audience,
    identityClaim: 'sub',
    ...(settings.fanOutSliceSize !== undefined && { fanOutSliceSize: settings.fanOutSliceSize }),
    fanOutPostsPerSecond: settings.fanOutPostsPerSecond ?? localFanOutPostsPerSecond,
    ...(messages && { messagesPerSecond: messages.perSecond, messageBurst: messages.burst }),
    ...(writes && { writesPerSecond: writes.perSecond, writeBurst: writes.burst }),
    ...(settings.presence?.graceSeconds && { presenceGraceSeconds: settings.presence.graceSeconds }),
    ...(settings.presence?.maxMembers && { presenceMaxMembers: settings.presence.maxMembers }),
  }
}

/**
 * The environment handlers get locally: the same variables the CDK stack sets, pointing at the emulators,
 * with every setting (the gateway gives each function only its share, as the CDK stack does, and the
 * workers' names and Lambda endpoint itself).
 */
export function localHandlerEnvironment(
  gatewayUrl: string,
  dynamoEndpoint: string,
  s3Endpoint: string,
  settings: Pick<
    LocalStackOptions,
    'fanOutSliceSize' | 'fanOutPostsPerSecond' | 'rateLimits' | 'presence'
  > = {},
): Record<string, string> {
  const values = localSettings(gatewayUrl, settings)
  return {
    [envNames.tableName]: localNames.table,
    [envNames.bucketName]: localNames.bucket,
    [envNames.callbackUrl]: gatewayUrl,
    [envNames.dynamoEndpoint]: dynamoEndpoint,
    [envNames.s3Endpoint]: s3Endpoint,
    ...Object.fromEntries(
      Object.entries(settingRows).map(([name, row]) => [
        row.variable,
        String(values[name as keyof Settings]),
      ]),
    ),
    AWS_ACCESS_KEY_ID: emulatorClientConfig.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulatorClientConfig.credentials.secretAccessKey,
    AWS_REGION: emulatorClientConfig.region,
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
  }
}

/** The whole local stack: DynamoDB Local, the S3 emulator and the WebSocket gateway. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => {})
  const { dataDir } = options
  const unlock = dataDir ? await lockDataDir(dataDir) : async () => {}
  let emulators: Awaited<ReturnType<typeof startEmulators>>
  try {
    emulators = await startEmulators(dataDir, log, options.s3)
  } catch (error) {
    await unlock()
    throw error
  }
  try {
    log('starting the WebSocket gateway…')
    const gateway = await startGateway({
      port: options.port,
      tokens: await createDevTokens(dataDir && join(dataDir, dataDirFiles.signingKey)),
      signIn: {
        ...(dataDir && {
          accountsFile: join(dataDir, dataDirFiles.accounts),
          stateFile: join(dataDir, dataDirFiles.signInState),
        }),
        ...(options.idTokenLifetimeSeconds && { idTokenLifetimeSeconds: options.idTokenLifetimeSeconds }),
      },
      ...(options.idleTimeoutMs && { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.maxLifetimeMs && { maxLifetimeMs: options.maxLifetimeMs }),
      handlerEnvironment: (url) =>
        localHandlerEnvironment(url, emulators.dynamo.endpoint, emulators.s3.endpoint, options),
      ...(options.functionOutput && { functionOutput: options.functionOutput }),
      ...(options.aws && { aws: options.aws }),
      log,
    })
    const sweeper = startTtlSweeper({
      endpoint: emulators.dynamo.endpoint,
      table: localNames.table,
      aws: gateway.aws,
      log,
    })
    return {
      url: gateway.url,
      aws: gateway.aws,
      dynamoEndpoint: emulators.dynamo.endpoint,
      s3Endpoint: emulators.s3.endpoint,
      stop: async () => {
        sweeper.stop()
        await gateway.close()
        await emulators.stop()
        await unlock()
      },
    }
  } catch (error) {
    await emulators.stop()
    await unlock()
    throw error
  }
}
