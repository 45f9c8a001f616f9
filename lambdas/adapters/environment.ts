import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { S3Client } from '@aws-sdk/client-s3'
import { defaultProvider } from '@aws-sdk/credential-provider-node'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { loadConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from '@smithy/core/config'
import { Chat, type ChatDeps } from '../core/chat.js'
import type { ChatStore, EventSender, FanOutWorkers, ObjectStore } from '../core/ports.js'
import { chatSettings, readSettings, type SettingRows, type SettingValues } from '../settings.js'
import { DynamoChatStore } from './dynamo-store.js'
import { envNames } from './env-names.js'
import { LambdaFanOutWorkers } from './lambda-workers.js'
import { SignedPostSender } from './management-api.js'
import { S3Objects } from './s3-objects.js'
import { SignedHttp } from './signed-http.js'

type EnvName = (typeof envNames)[keyof typeof envNames] | 'AWS_REGION'

const deployHint = 'deploy with the CDK stack or run the local stack (npm start)'

/** A resource this function was deployed with; a clear error names what is missing. */
export function requiredEnv(name: EnvName): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: ${deployHint}`)
  return value
}

function optionalEnv(name: EnvName): string | undefined {
  return process.env[name] || undefined
}

/** The settings of `rows` from this function's environment, each its default when unset; errors name the variable. */
export function settingsFromEnvironment<R extends SettingRows>(rows: R): SettingValues<R> {
  const { values, problems } = readSettings(
    rows,
    (_, row) => process.env[row.variable],
    (_, row) => row.variable,
    (_, row) => `${row.variable} is not set: ${deployHint}`,
  )
  if (problems.length > 0) throw new Error(problems.join('; '))
  return values
}

/** A port whose adapter is built on first use, so a function only needs the settings it really uses. */
function lazily<T extends object>(build: () => T): T {
  let built: T | undefined
  return new Proxy({} as T, {
    get: (_, property) => {
      built ??= build()
      const value = Reflect.get(built, property)
      return typeof value === 'function' ? value.bind(built) : value
    },
  })
}

function chatStore(): ChatStore {
  const endpoint = optionalEnv(envNames.dynamoEndpoint)
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ ...(endpoint && { endpoint }) }), {
    marshallOptions: { removeUndefinedValues: true },
  })
  return new DynamoChatStore(db, requiredEnv(envNames.tableName))
}

function objectStore(): ObjectStore {
  const endpoint = optionalEnv(envNames.s3Endpoint)
  const s3 = new S3Client({
    // A custom endpoint (an emulator) has no per-bucket DNS names.
    ...(endpoint && { endpoint, forcePathStyle: true }),
    requestChecksumCalculation: 'WHEN_REQUIRED',
  })
  return new S3Objects(s3, requiredEnv(envNames.bucketName))
}

/** Where the SDK looks for the region: AWS_REGION (set by Lambda), then the shared config files. */
const region = loadConfig(NODE_REGION_CONFIG_OPTIONS, NODE_REGION_CONFIG_FILE_OPTIONS)
/** The SDK's default credential chain; it keeps what it found until near its expiry. */
const credentials = defaultProvider()

function eventSender(): EventSender {
  return new SignedPostSender({ endpoint: requiredEnv(envNames.callbackUrl), region, credentials })
}

function fanOutWorkers(functionName: string): FanOutWorkers {
  const endpoint =
    optionalEnv(envNames.lambdaEndpoint) ?? `https://lambda.${requiredEnv('AWS_REGION')}.amazonaws.com`
  return new LambdaFanOutWorkers(
    new SignedHttp({ endpoint, service: 'lambda', region, credentials }),
    functionName,
  )
}

/** The chat core wired to AWS from this function's environment; built once per cold start. */
export function chatFromEnvironment(
  onDelivery?: ChatDeps['onDelivery'],
  onSecurity?: ChatDeps['onSecurity'],
): Chat {
  const fanOutFunction = optionalEnv(envNames.fanOutFunction)
  return new Chat({
    settings: settingsFromEnvironment(chatSettings),
    ...(fanOutFunction !== undefined && { workers: lazily(() => fanOutWorkers(fanOutFunction)) }),
    store: lazily(chatStore),
    objects: lazily(objectStore),
    sender: lazily(eventSender),
    ...(onDelivery && { onDelivery }),
    ...(onSecurity && { onSecurity }),
  })
}
